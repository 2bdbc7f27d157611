-- A claim-next picks the most urgent unlocked request with FOR UPDATE SKIP LOCKED, then needs the
-- SLA stages already applied to it (to rebuild its clocks). Those must be read after the row lock
-- is held: a worker that applied a stage and committed just before the pick locked the row has
-- written its sla_stage_log row after the pick's snapshot was taken. A subquery of the pick would
-- read with that snapshot and miss it (and the stage would be applied, and told, twice), so the
-- count was a statement, and a round trip, of its own.
--
-- A VOLATILE function takes a fresh snapshot for each query it runs (under READ COMMITTED, which
-- claims use). Called in the pick's select list, it runs after the pick's subquery has locked the
-- row, and reads what a separate statement would, in the pick's round trip. PL/pgSQL, so that the
-- session keeps its plan (a SQL function's body is planned again at every call).
CREATE FUNCTION sla_stages_applied(p_request_id bigint) RETURNS integer[]
LANGUAGE plpgsql VOLATILE STRICT
SET search_path FROM CURRENT
AS $$
BEGIN
    RETURN (
        SELECT ARRAY[
            count(*) FILTER (WHERE clock = 'response'),
            coalesce(max(percent) FILTER (WHERE clock = 'response'), 0),
            count(*) FILTER (WHERE clock = 'resolution'),
            coalesce(max(percent) FILTER (WHERE clock = 'resolution'), 0)]::integer[]
        FROM sla_stage_log WHERE request_id = p_request_id);
END
$$;

COMMENT ON FUNCTION sla_stages_applied(bigint) IS
    'The SLA stages applied to a request: {response count, response top percent, resolution count, resolution top percent}. VOLATILE on purpose: under READ COMMITTED it reads with a snapshot of its own, taken when it is called, so that a claim calling it on the row its subquery has just locked sees every stage committed before the lock.';
