-- escalation_policy_is_valid accepted policies that LoketCore's EscalationPolicy refuses: no stage
-- recording the breach, a breach away from 100 %, max_escalation_level above 10, a repeat that
-- raises no level. One such row, written by hand with SQL, made every catalog load fail, and with
-- it every request of every service. The function now also applies those rules; its other limits
-- stay (they keep sums of levels and priorities far from overflow).

CREATE OR REPLACE FUNCTION escalation_policy_is_valid(p jsonb) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE STRICT
SET search_path FROM CURRENT
AS $$
DECLARE
    stage       jsonb;
    pct         numeric;
    prev        numeric := 0;
    is_breach   boolean;
    has_breach  boolean := false;
BEGIN
    IF jsonb_typeof(p) <> 'object' THEN
        RETURN false;
    END IF;
    IF p = '{}'::jsonb THEN
        RETURN true;                      -- the default policy
    END IF;
    -- A custom policy states its stages and its ceiling; the repeat rule is optional but comes
    -- as a pair (repeat_every_percent + repeat).
    IF NOT (p ? 'stages' AND p ? 'max_escalation_level') THEN
        RETURN false;
    END IF;
    IF jsonb_typeof(p->'stages') <> 'array' OR jsonb_array_length(p->'stages') = 0 THEN
        RETURN false;
    END IF;
    FOR stage IN SELECT value FROM jsonb_array_elements(p->'stages') LOOP
        IF jsonb_typeof(stage) <> 'object' OR jsonb_typeof(stage->'percent') IS DISTINCT FROM 'number' THEN
            RETURN false;
        END IF;
        pct := (stage->>'percent')::numeric;
        IF pct <= prev OR pct <> trunc(pct) OR pct > 10000 THEN
            RETURN false;                 -- whole percents, strictly increasing
        END IF;
        prev := pct;
        IF NOT escalation_action_is_valid(stage) THEN
            RETURN false;                 -- "breach", when given, is a boolean
        END IF;
        -- A stage records the breach when it says so, else when it is the 100 % stage; only the
        -- 100 % stage may, and one must.
        is_breach := CASE WHEN stage ? 'breach' THEN (stage->>'breach')::boolean ELSE pct = 100 END;
        IF is_breach AND pct <> 100 THEN
            RETURN false;
        END IF;
        has_breach := has_breach OR is_breach;
    END LOOP;
    IF NOT has_breach THEN
        RETURN false;
    END IF;
    IF (p ? 'repeat_every_percent') <> (p ? 'repeat') THEN
        RETURN false;
    END IF;
    IF p ? 'repeat_every_percent' THEN
        IF jsonb_typeof(p->'repeat_every_percent') <> 'number' THEN
            RETURN false;
        END IF;
        pct := (p->>'repeat_every_percent')::numeric;
        IF pct <= 0 OR pct <> trunc(pct) OR pct > 10000 THEN
            RETURN false;
        END IF;
        IF NOT escalation_action_is_valid(p->'repeat') THEN
            RETURN false;
        END IF;
        -- Repeats that raise no level would never end (the repeat's levels default to 1).
        IF p->'repeat' ? 'escalation_levels' AND (p->'repeat'->>'escalation_levels')::numeric < 1 THEN
            RETURN false;
        END IF;
    END IF;
    IF jsonb_typeof(p->'max_escalation_level') <> 'number' THEN
        RETURN false;
    END IF;
    pct := (p->>'max_escalation_level')::numeric;
    RETURN pct BETWEEN 0 AND 10 AND pct = trunc(pct);   -- EscalationPolicy.escalationLevelLimit
END
$$;
COMMENT ON FUNCTION escalation_policy_is_valid(jsonb) IS
    'Shape check for service_types.escalation_policy, as LoketCore.EscalationPolicy reads it: {} (default) or {"stages":[{"percent",...}] (whole percents, increasing; the 100 % stage, and only it, records the breach), "max_escalation_level" 0..10, optional "repeat_every_percent"+"repeat" (repeat escalation_levels >= 1)}; notify values are assignee|supervisors|managers.';

-- A replaced function does not check the rows already stored: refuse to migrate over a policy the
-- catalog cannot load, naming its service.
DO $$
DECLARE
    bad text;
BEGIN
    SELECT string_agg(code, ', ' ORDER BY code) INTO bad
    FROM service_types WHERE NOT escalation_policy_is_valid(escalation_policy);
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'service types whose escalation_policy Loket cannot load: %', bad
            USING HINT = 'Fix those policies (or set them to {}), then run the migration again.';
    END IF;
END
$$;
