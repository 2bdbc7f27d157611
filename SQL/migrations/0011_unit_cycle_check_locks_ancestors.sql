-- units_refuse_cycle walked a unit's new ancestors in its statement's snapshot. Two re-parentings
-- at once (A under B in one transaction, B under A in another, by hand or by two tools that do not
-- share catalog import's lock) each saw the old tree, both passed, and together made a cycle: every
-- walk up that tree (staff scope, escalation to the parent) would then go round it.
--
-- The walk now goes up one unit at a time and takes a share lock on each ancestor. A concurrent
-- re-parenting of any of them waits until this transaction ends, and the second walk then reads
-- the committed tree: under READ COMMITTED it sees the first change and refuses the cycle; under
-- REPEATABLE READ or SERIALIZABLE locking a row changed since the snapshot fails with a
-- serialization error. Two re-parentings that would each lock the other's row first end in a
-- deadlock error for one of them. Nothing passes that makes a cycle.

CREATE OR REPLACE FUNCTION units_refuse_cycle() RETURNS trigger
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
DECLARE
    ancestor  bigint := NEW.parent_id;
    steps     integer := 0;
BEGIN
    WHILE ancestor IS NOT NULL LOOP
        IF ancestor = NEW.id THEN
            RAISE EXCEPTION 'unit % cannot be placed under its own descendant', NEW.code
                USING ERRCODE = 'check_violation', CONSTRAINT = 'units_no_cycle';
        END IF;
        steps := steps + 1;
        IF steps > 10000 THEN
            -- Only a cycle already stored could get here; refuse rather than loop.
            RAISE EXCEPTION 'the units above % form a cycle', NEW.code
                USING ERRCODE = 'check_violation', CONSTRAINT = 'units_no_cycle';
        END IF;
        SELECT u.parent_id INTO ancestor FROM units u WHERE u.id = ancestor FOR SHARE;
    END LOOP;
    RETURN NEW;
END
$$;
