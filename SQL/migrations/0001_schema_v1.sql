-- Loket schema v1 (migration 0001).
--
-- Runs inside the single transaction the migrator opens: there is no BEGIN/COMMIT here, and the
-- migrator's own bookkeeping table is not created here. Plain PostgreSQL 15, no extensions.
-- Names are unqualified so that tests can apply the file into a schema or database of their own.
--
-- The file contains dollar-quoted PL/pgSQL bodies: send it to the server whole (one simple-query
-- PQexec), never split it on semicolons.
--
-- Conventions: statuses and kinds are text with CHECK constraints; instants are timestamptz;
-- surrogate keys are identity columns; constraints carry explicit names so that the store can map
-- a violation (SQLSTATE + constraint name) to a typed error.

------------------------------------------------------------------------------------------------
-- Validation helpers used by CHECK constraints
------------------------------------------------------------------------------------------------

CREATE FUNCTION is_iana_time_zone(tz text) RETURNS boolean
LANGUAGE sql STABLE STRICT
AS $$
    SELECT EXISTS (SELECT 1 FROM pg_timezone_names WHERE name = tz)
$$;
COMMENT ON FUNCTION is_iana_time_zone(text) IS
    'True when the name is a time zone of the server''s IANA database (e.g. Asia/Jakarta); abbreviations such as WIB and POSIX offsets are refused.';

-- One escalation action: the fields shared by a stage and by the repeat rule.
CREATE FUNCTION escalation_action_is_valid(a jsonb) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE STRICT
AS $$
BEGIN
    IF jsonb_typeof(a) <> 'object' THEN
        RETURN false;
    END IF;
    IF a ? 'notify' THEN
        IF jsonb_typeof(a->'notify') <> 'array' THEN
            RETURN false;
        END IF;
        IF EXISTS (SELECT 1 FROM jsonb_array_elements(a->'notify') AS n(v)
                   WHERE jsonb_typeof(v) <> 'string'
                      OR v #>> '{}' NOT IN ('assignee', 'supervisors', 'managers')) THEN
            RETURN false;
        END IF;
    END IF;
    IF a ? 'breach' AND jsonb_typeof(a->'breach') <> 'boolean' THEN
        RETURN false;
    END IF;
    IF a ? 'move_to_parent' AND jsonb_typeof(a->'move_to_parent') <> 'boolean' THEN
        RETURN false;
    END IF;
    IF a ? 'escalation_levels' AND NOT (
           jsonb_typeof(a->'escalation_levels') = 'number'
       AND (a->>'escalation_levels')::numeric BETWEEN 0 AND 100
       AND (a->>'escalation_levels')::numeric = trunc((a->>'escalation_levels')::numeric)) THEN
        RETURN false;
    END IF;
    IF a ? 'priority_boost' AND NOT (
           jsonb_typeof(a->'priority_boost') = 'number'
       AND (a->>'priority_boost')::numeric BETWEEN 0 AND 100
       AND (a->>'priority_boost')::numeric = trunc((a->>'priority_boost')::numeric)) THEN
        RETURN false;
    END IF;
    RETURN true;
END
$$;

-- SET search_path FROM CURRENT pins the schema the migration ran in: the body calls another
-- function by its unqualified name, and pg_restore evaluates CHECKs with an empty search_path.
CREATE FUNCTION escalation_policy_is_valid(p jsonb) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE STRICT
SET search_path FROM CURRENT
AS $$
DECLARE
    stage   jsonb;
    pct     numeric;
    prev    numeric := 0;
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
            RETURN false;
        END IF;
    END LOOP;
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
    END IF;
    IF jsonb_typeof(p->'max_escalation_level') <> 'number' THEN
        RETURN false;
    END IF;
    pct := (p->>'max_escalation_level')::numeric;
    RETURN pct BETWEEN 0 AND 100 AND pct = trunc(pct);
END
$$;
COMMENT ON FUNCTION escalation_policy_is_valid(jsonb) IS
    'Shape check for service_types.escalation_policy: {} (default) or {"stages":[{"percent",...}], "max_escalation_level", optional "repeat_every_percent"+"repeat"}; notify values are assignee|supervisors|managers.';

CREATE FUNCTION service_requirements_are_valid(r jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE STRICT
AS $$
    SELECT jsonb_typeof(r) = 'array'
       AND NOT EXISTS (
           SELECT 1 FROM jsonb_array_elements(r) AS e(v)
           WHERE jsonb_typeof(v) <> 'object'
              OR jsonb_typeof(v->'id') IS DISTINCT FROM 'string'
              OR jsonb_typeof(v->'en') IS DISTINCT FROM 'string'
              OR btrim(v->>'id') = ''
              OR btrim(v->>'en') = '')
$$;
COMMENT ON FUNCTION service_requirements_are_valid(jsonb) IS
    'Shape check for service_types.requirements: an array of {"id": Indonesian text, "en": English text}.';

CREATE FUNCTION open311_attributes_are_valid(a jsonb) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE STRICT
AS $$
DECLARE
    attr     jsonb;
    is_list  boolean;
BEGIN
    IF jsonb_typeof(a) <> 'array' THEN
        RETURN false;
    END IF;
    FOR attr IN SELECT value FROM jsonb_array_elements(a) LOOP
        IF jsonb_typeof(attr) <> 'object'
           OR jsonb_typeof(attr->'code') IS DISTINCT FROM 'string'
           OR (attr->>'code') !~ '^[A-Za-z0-9_-]{1,64}$'
           OR jsonb_typeof(attr->'datatype') IS DISTINCT FROM 'string'
           OR (attr->>'datatype') NOT IN ('string', 'number', 'datetime', 'text', 'singlevaluelist', 'multivaluelist')
           OR jsonb_typeof(attr->'required') IS DISTINCT FROM 'boolean'
           OR jsonb_typeof(attr->'order') IS DISTINCT FROM 'number'
           OR jsonb_typeof(attr->'description_id') IS DISTINCT FROM 'string'
           OR jsonb_typeof(attr->'description_en') IS DISTINCT FROM 'string' THEN
            RETURN false;
        END IF;
        is_list := (attr->>'datatype') IN ('singlevaluelist', 'multivaluelist');
        IF is_list THEN
            IF jsonb_typeof(attr->'values') IS DISTINCT FROM 'array' OR jsonb_array_length(attr->'values') = 0 THEN
                RETURN false;
            END IF;
            IF EXISTS (SELECT 1 FROM jsonb_array_elements(attr->'values') AS v(x)
                       WHERE jsonb_typeof(x) <> 'object'
                          OR jsonb_typeof(x->'key') IS DISTINCT FROM 'string'
                          OR jsonb_typeof(x->'name') IS DISTINCT FROM 'string') THEN
                RETURN false;
            END IF;
            IF (SELECT count(*) <> count(DISTINCT x->>'key') FROM jsonb_array_elements(attr->'values') AS v(x)) THEN
                RETURN false;             -- duplicate value keys
            END IF;
        ELSIF attr ? 'values' AND NOT (jsonb_typeof(attr->'values') = 'array' AND jsonb_array_length(attr->'values') = 0) THEN
            RETURN false;                 -- only list types carry values
        END IF;
    END LOOP;
    -- Attribute codes are unique within one service type (they become attribute[CODE]).
    RETURN (SELECT count(*) = count(DISTINCT v->>'code') FROM jsonb_array_elements(a) AS e(v));
END
$$;
COMMENT ON FUNCTION open311_attributes_are_valid(jsonb) IS
    'Shape check for service_types.attributes: an array of Open311 attribute definitions {code, datatype, required, order, description_id, description_en, values:[{key,name}] for list types}.';

------------------------------------------------------------------------------------------------
-- Organisation: units, staff, credentials
------------------------------------------------------------------------------------------------

CREATE TABLE units (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code        text NOT NULL,
    name        text NOT NULL,
    parent_id   bigint REFERENCES units (id) ON DELETE RESTRICT,
    kind        text NOT NULL,
    is_triage   boolean NOT NULL DEFAULT false,
    active      boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT units_code_key UNIQUE (code),
    CONSTRAINT units_code_format CHECK (code ~ '^[A-Z][A-Z0-9]*(-[A-Z0-9]+)*$' AND char_length(code) <= 40),
    CONSTRAINT units_name_not_blank CHECK (btrim(name) <> ''),
    CONSTRAINT units_kind_check CHECK (kind IN ('agency', 'division', 'section', 'front_office')),
    CONSTRAINT units_not_own_parent CHECK (parent_id <> id),
    CONSTRAINT units_triage_is_active_front_office CHECK (NOT is_triage OR (kind = 'front_office' AND active))
);
COMMENT ON TABLE units IS
    'The organisation tree: agencies (OPD) at the top, then divisions (bidang) and sections (seksi), plus front-office counters. Requests are queued per unit; escalation climbs parent_id.';
COMMENT ON COLUMN units.code IS 'Stable uppercase code used by admins and the seed, e.g. DISDUKCAPIL or DISDUKCAPIL-IDP.';
COMMENT ON COLUMN units.parent_id IS 'Parent unit; NULL for the top of the tree. Cycles are refused by trigger units_no_cycle.';
COMMENT ON COLUMN units.is_triage IS 'The single front-office unit that receives requests no routing rule or default unit can place.';

-- At most one triage unit.
CREATE UNIQUE INDEX units_single_triage ON units (is_triage) WHERE is_triage;
-- Subtree and ancestor walks (staff scope, escalation to parent).
CREATE INDEX units_parent_id_idx ON units (parent_id);

CREATE FUNCTION units_refuse_cycle() RETURNS trigger
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
BEGIN
    IF NEW.parent_id IS NOT NULL AND EXISTS (
        WITH RECURSIVE ancestors (id, parent_id) AS (
            SELECT u.id, u.parent_id FROM units u WHERE u.id = NEW.parent_id
            UNION
            SELECT u.id, u.parent_id FROM units u JOIN ancestors a ON u.id = a.parent_id
        )
        SELECT 1 FROM ancestors WHERE ancestors.id = NEW.id
    ) THEN
        RAISE EXCEPTION 'unit % cannot be placed under its own descendant', NEW.code
            USING ERRCODE = 'check_violation', CONSTRAINT = 'units_no_cycle';
    END IF;
    RETURN NEW;
END
$$;
-- A new row cannot be anyone's ancestor yet, so only re-parenting needs the walk.
CREATE TRIGGER units_no_cycle
    BEFORE UPDATE OF parent_id ON units
    FOR EACH ROW EXECUTE FUNCTION units_refuse_cycle();

CREATE TABLE staff (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    nip         text NOT NULL,
    name        text NOT NULL,
    email       text,
    unit_id     bigint NOT NULL REFERENCES units (id) ON DELETE RESTRICT,
    role        text NOT NULL DEFAULT 'staff',
    active      boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT staff_nip_key UNIQUE (nip),
    CONSTRAINT staff_nip_format CHECK (nip ~ '^[0-9]{18}$'),
    CONSTRAINT staff_name_not_blank CHECK (btrim(name) <> ''),
    CONSTRAINT staff_email_format CHECK (email ~ '^[^@[:space:]]+@[^@[:space:]]+$' AND char_length(email) <= 254),
    CONSTRAINT staff_role_check CHECK (role IN ('staff', 'supervisor', 'manager', 'admin'))
);
COMMENT ON TABLE staff IS
    'Civil servants (ASN) who work queues. A person acts within the subtree of unit_id; supervisors and managers of a unit receive its warnings and escalations.';
COMMENT ON COLUMN staff.nip IS 'Nomor Induk Pegawai, 18 digits: birth date YYYYMMDD, appointment YYYYMM, gender digit, 3-digit serial.';
COMMENT ON COLUMN staff.role IS 'staff works requests; supervisor also assigns and sees escalations of the unit; manager sees reports and breaches of the subtree; admin manages configuration.';
-- Notification fan-out ("supervisors of unit X") and the unit foreign key.
CREATE INDEX staff_unit_role_idx ON staff (unit_id, role);

CREATE TABLE api_tokens (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    staff_id      bigint NOT NULL REFERENCES staff (id) ON DELETE CASCADE,
    token_hash    bytea NOT NULL,
    token_prefix  text NOT NULL,
    label         text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz,
    revoked_at    timestamptz,
    last_used_at  timestamptz,
    CONSTRAINT api_tokens_token_hash_key UNIQUE (token_hash),
    CONSTRAINT api_tokens_token_hash_sha256 CHECK (octet_length(token_hash) = 32),
    CONSTRAINT api_tokens_token_prefix_length CHECK (char_length(token_prefix) = 8),
    CONSTRAINT api_tokens_expires_after_creation CHECK (expires_at > created_at)
);
COMMENT ON TABLE api_tokens IS
    'Personal bearer tokens of staff for the CLI and staff API. Only the SHA-256 of a token is stored; the token itself is shown once at creation.';
COMMENT ON COLUMN api_tokens.token_hash IS 'SHA-256 of the full token (32 bytes); authentication looks the token up by this hash.';
COMMENT ON COLUMN api_tokens.token_prefix IS 'First 8 characters of the token, so that a person can recognise it in listings.';
COMMENT ON COLUMN api_tokens.expires_at IS 'NULL means the token does not expire (it can still be revoked).';
COMMENT ON COLUMN api_tokens.last_used_at IS 'Coarse last use; refresh it at most every few minutes to keep writes off the hot path.';
CREATE INDEX api_tokens_staff_id_idx ON api_tokens (staff_id);

CREATE TABLE partner_api_keys (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name           text NOT NULL,
    contact_email  text,
    key_hash       bytea NOT NULL,
    key_prefix     text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    revoked_at     timestamptz,
    last_used_at   timestamptz,
    CONSTRAINT partner_api_keys_key_hash_key UNIQUE (key_hash),
    CONSTRAINT partner_api_keys_key_hash_sha256 CHECK (octet_length(key_hash) = 32),
    CONSTRAINT partner_api_keys_key_prefix_length CHECK (char_length(key_prefix) = 8),
    CONSTRAINT partner_api_keys_name_not_blank CHECK (btrim(name) <> ''),
    CONSTRAINT partner_api_keys_contact_email_format CHECK (contact_email ~ '^[^@[:space:]]+@[^@[:space:]]+$' AND char_length(contact_email) <= 254)
);
COMMENT ON TABLE partner_api_keys IS
    'API keys of Open311 partner applications (api_key parameter). Only the SHA-256 of a key is stored.';
COMMENT ON COLUMN partner_api_keys.key_hash IS 'SHA-256 of the full key (32 bytes).';
COMMENT ON COLUMN partner_api_keys.key_prefix IS 'First 8 characters of the key, for display.';

------------------------------------------------------------------------------------------------
-- Business calendars
------------------------------------------------------------------------------------------------

CREATE TABLE calendars (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code         text NOT NULL,
    name         text NOT NULL,
    time_zone    text NOT NULL DEFAULT 'Asia/Jakarta',
    day_minutes  integer NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT calendars_code_key UNIQUE (code),
    CONSTRAINT calendars_code_format CHECK (code ~ '^[a-z0-9]+(-[a-z0-9]+)*$' AND char_length(code) <= 40),
    CONSTRAINT calendars_name_not_blank CHECK (btrim(name) <> ''),
    CONSTRAINT calendars_time_zone_known CHECK (is_iana_time_zone(time_zone)),
    CONSTRAINT calendars_day_minutes_range CHECK (day_minutes BETWEEN 1 AND 1440)
);
COMMENT ON TABLE calendars IS
    'Working-time calendars: weekly hours (calendar_intervals) and non-working days (holidays) in one IANA time zone. SLA targets are counted in working minutes of a calendar.';
COMMENT ON COLUMN calendars.time_zone IS 'IANA zone name in which intervals and holidays are read, e.g. Asia/Jakarta (WIB).';
COMMENT ON COLUMN calendars.day_minutes IS 'Working minutes of one standard day, used only to present targets in working days (e.g. 1350 / 450 = 3 days).';
COMMENT ON COLUMN calendars.updated_at IS 'Set by the store when hours or holidays change; open requests are then recomputed by an admin command.';

CREATE TABLE calendar_intervals (
    calendar_id   bigint NOT NULL REFERENCES calendars (id) ON DELETE CASCADE,
    weekday       smallint NOT NULL,
    start_minute  integer NOT NULL,
    end_minute    integer NOT NULL,
    PRIMARY KEY (calendar_id, weekday, start_minute),
    CONSTRAINT calendar_intervals_weekday_range CHECK (weekday BETWEEN 1 AND 7),
    CONSTRAINT calendar_intervals_minute_range CHECK (start_minute >= 0 AND end_minute <= 1440 AND start_minute < end_minute),
    -- No two intervals of one calendar and weekday overlap. Each (calendar, weekday) pair owns a
    -- disjoint block of 1441 integers, so a plain range exclusion works without btree_gist.
    CONSTRAINT calendar_intervals_no_overlap EXCLUDE USING gist (
        int8range((calendar_id * 8 + weekday) * 1441 + start_minute,
                  (calendar_id * 8 + weekday) * 1441 + end_minute) WITH &&)
);
COMMENT ON TABLE calendar_intervals IS
    'Weekly working hours of a calendar: half-open intervals [start_minute, end_minute) of local time per ISO weekday. Breaks are the gaps between intervals; a weekday without rows is not worked.';
COMMENT ON COLUMN calendar_intervals.weekday IS 'ISO weekday: 1 = Monday ... 7 = Sunday.';
COMMENT ON COLUMN calendar_intervals.start_minute IS 'Minutes after local midnight at which work starts (0..1439).';
COMMENT ON COLUMN calendar_intervals.end_minute IS 'Minutes after local midnight at which work stops, exclusive (1..1440).';

CREATE TABLE holidays (
    calendar_id  bigint NOT NULL REFERENCES calendars (id) ON DELETE CASCADE,
    day          date NOT NULL,
    name         text NOT NULL,
    kind         text NOT NULL,
    PRIMARY KEY (calendar_id, day),
    CONSTRAINT holidays_name_not_blank CHECK (btrim(name) <> ''),
    CONSTRAINT holidays_kind_check CHECK (kind IN ('national', 'joint_leave', 'regional'))
);
COMMENT ON TABLE holidays IS
    'Whole non-working days of a calendar: national holidays, joint leave (cuti bersama, non-working for ASN) and regional days. Data an admin maintains as decrees are published.';
COMMENT ON COLUMN holidays.kind IS 'national = libur nasional; joint_leave = cuti bersama; regional = a day set by the local government.';

------------------------------------------------------------------------------------------------
-- Regions (Kemendagri codes)
------------------------------------------------------------------------------------------------

CREATE TABLE areas (
    code         text PRIMARY KEY,
    name         text NOT NULL,
    level        text NOT NULL,
    parent_code  text REFERENCES areas (code) ON DELETE RESTRICT,
    CONSTRAINT areas_name_not_blank CHECK (btrim(name) <> ''),
    CONSTRAINT areas_level_check CHECK (level IN ('province', 'regency', 'district', 'village')),
    -- The code's shape fixes the level, and the parent is the code minus its last segment.
    CONSTRAINT areas_code_matches_level CHECK (
           (level = 'province' AND code ~ '^[0-9]{2}$'                          AND parent_code IS NULL)
        OR (level = 'regency'  AND code ~ '^[0-9]{2}\.[0-9]{2}$'                AND parent_code = left(code, 2))
        OR (level = 'district' AND code ~ '^[0-9]{2}\.[0-9]{2}\.[0-9]{2}$'      AND parent_code = left(code, 5))
        OR (level = 'village'  AND code ~ '^[0-9]{2}\.[0-9]{2}\.[0-9]{2}\.[0-9]{4}$' AND parent_code = left(code, 8)))
);
COMMENT ON TABLE areas IS
    'Administrative regions by Kemendagri code: province (36), regency/city (36.73), district/kecamatan (36.73.01), village/kelurahan (36.73.01.1001). Routing rules and requests refer to them.';
COMMENT ON COLUMN areas.code IS 'Kemendagri region code with dots; a code''s prefixes are its ancestors, so a village matches district rules by left(code, 8).';
COMMENT ON COLUMN areas.level IS 'province, regency (kabupaten/kota), district (kecamatan) or village (kelurahan/desa).';
CREATE INDEX areas_parent_code_idx ON areas (parent_code);

------------------------------------------------------------------------------------------------
-- Service catalogue and routing
------------------------------------------------------------------------------------------------

CREATE TABLE service_types (
    id                          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code                        text NOT NULL,
    group_code                  text NOT NULL,
    name_id                     text NOT NULL,
    name_en                     text NOT NULL,
    description_id              text NOT NULL DEFAULT '',
    description_en              text NOT NULL DEFAULT '',
    requirements                jsonb NOT NULL DEFAULT '[]',
    fee_rupiah                  bigint NOT NULL DEFAULT 0,
    fee_note_id                 text,
    fee_note_en                 text,
    response_target_minutes     integer NOT NULL,
    resolution_target_minutes   integer NOT NULL,
    calendar_id                 bigint NOT NULL REFERENCES calendars (id) ON DELETE RESTRICT,
    default_unit_id             bigint NOT NULL REFERENCES units (id) ON DELETE RESTRICT,
    escalation_policy           jsonb NOT NULL DEFAULT '{}',
    is_public                   boolean NOT NULL DEFAULT true,
    allow_multiple_open         boolean NOT NULL DEFAULT false,
    attributes                  jsonb NOT NULL DEFAULT '[]',
    keywords                    text[] NOT NULL DEFAULT '{}',
    active                      boolean NOT NULL DEFAULT true,
    created_at                  timestamptz NOT NULL DEFAULT now(),
    updated_at                  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT service_types_code_key UNIQUE (code),
    CONSTRAINT service_types_code_format CHECK (code ~ '^[a-z0-9]+(-[a-z0-9]+)*$' AND char_length(code) <= 40),
    CONSTRAINT service_types_group_code_format CHECK (group_code ~ '^[a-z0-9]+(-[a-z0-9]+)*$' AND char_length(group_code) <= 40),
    CONSTRAINT service_types_names_not_blank CHECK (btrim(name_id) <> '' AND btrim(name_en) <> ''),
    CONSTRAINT service_types_requirements_shape CHECK (jsonb_typeof(requirements) = 'array' AND service_requirements_are_valid(requirements)),
    CONSTRAINT service_types_fee_not_negative CHECK (fee_rupiah >= 0),
    CONSTRAINT service_types_targets_positive CHECK (response_target_minutes > 0 AND resolution_target_minutes > 0),
    CONSTRAINT service_types_response_within_resolution CHECK (response_target_minutes <= resolution_target_minutes),
    CONSTRAINT service_types_escalation_policy_shape CHECK (jsonb_typeof(escalation_policy) = 'object' AND escalation_policy_is_valid(escalation_policy)),
    CONSTRAINT service_types_attributes_shape CHECK (jsonb_typeof(attributes) = 'array' AND open311_attributes_are_valid(attributes))
);
COMMENT ON TABLE service_types IS
    'The published service catalogue (standar pelayanan): requirements, fee, SLA targets in working minutes, default unit, escalation policy and Open311 attributes. service_code in Open311 is code.';
COMMENT ON COLUMN service_types.code IS 'Short lowercase slug, e.g. kk-baru; the Open311 service_code.';
COMMENT ON COLUMN service_types.group_code IS 'Catalogue group slug (adminduk, perizinan, sosial, kepegawaian, pengaduan); the Open311 group.';
COMMENT ON COLUMN service_types.requirements IS 'Persyaratan: JSON array of {"id": Indonesian text, "en": English text}, in display order.';
COMMENT ON COLUMN service_types.fee_rupiah IS 'Fee in whole rupiah; 0 for free services (civil registration is free by law).';
COMMENT ON COLUMN service_types.fee_note_id IS 'Optional explanation of the fee in Indonesian, e.g. when a retribution is assessed per case.';
COMMENT ON COLUMN service_types.fee_note_en IS 'Optional explanation of the fee in English.';
COMMENT ON COLUMN service_types.response_target_minutes IS 'Working minutes from filing until first claim (response clock).';
COMMENT ON COLUMN service_types.resolution_target_minutes IS 'Working minutes from filing until a final state (resolution clock), excluding time spent waiting for the citizen.';
COMMENT ON COLUMN service_types.escalation_policy IS
    '{} = default policy. Otherwise {"stages":[{"percent","notify":[assignee|supervisors|managers],"breach","escalation_levels","priority_boost","move_to_parent"}...],"repeat_every_percent","repeat":{...},"max_escalation_level"} (snake_case, decoded by LoketCore).';
COMMENT ON COLUMN service_types.is_public IS 'Whether public listings (Open311 GET requests, transparency pages) may show descriptions of its requests. Personal data is never public.';
COMMENT ON COLUMN service_types.allow_multiple_open IS 'When false, one NIK may have only one open request of this service at a time (checked at intake).';
COMMENT ON COLUMN service_types.attributes IS 'Open311 attribute definitions: [{"code","datatype","required","order","description_id","description_en","values":[{"key","name"}]}].';
COMMENT ON COLUMN service_types.keywords IS 'Search keywords; Open311 keywords (joined by commas).';
CREATE INDEX service_types_default_unit_id_idx ON service_types (default_unit_id);

CREATE TABLE routing_rules (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    service_type_id  bigint REFERENCES service_types (id) ON DELETE RESTRICT,
    area_code        text REFERENCES areas (code) ON DELETE RESTRICT,
    unit_id          bigint NOT NULL REFERENCES units (id) ON DELETE RESTRICT,
    priority         integer NOT NULL DEFAULT 0,
    active           boolean NOT NULL DEFAULT true,
    note             text,
    created_at       timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE routing_rules IS
    'Places a new request in a unit from its service type and area. Candidates: active rules whose service is the request''s or NULL and whose area is NULL or an ancestor-or-self of the request''s area. The most specific area wins (village > district > regency > any), then the higher priority; with no rule the service''s default unit applies, else the triage unit.';
COMMENT ON COLUMN routing_rules.service_type_id IS 'NULL = any service (use with an area only: a rule for any service and any area would override every default unit).';
COMMENT ON COLUMN routing_rules.area_code IS 'NULL = any area; otherwise the rule matches this area and everything inside it.';
COMMENT ON COLUMN routing_rules.priority IS 'Tie-breaker among rules of equally specific area; higher wins.';
-- Two active rules with the same service, area and priority would make routing ambiguous.
CREATE UNIQUE INDEX routing_rules_unambiguous ON routing_rules (service_type_id, area_code, priority) NULLS NOT DISTINCT WHERE active;
CREATE INDEX routing_rules_unit_id_idx ON routing_rules (unit_id);

------------------------------------------------------------------------------------------------
-- Requests and their audit trail
------------------------------------------------------------------------------------------------

CREATE TABLE service_requests (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tracking_code      text NOT NULL,
    service_type_id    bigint NOT NULL REFERENCES service_types (id) ON DELETE RESTRICT,
    unit_id            bigint NOT NULL REFERENCES units (id) ON DELETE RESTRICT,
    status             text NOT NULL DEFAULT 'queued',
    assignee_id        bigint REFERENCES staff (id) ON DELETE RESTRICT,
    lease_expires_at   timestamptz,
    citizen_name       text,
    citizen_nik        text,
    citizen_phone      text,
    citizen_email      text,
    area_code          text REFERENCES areas (code) ON DELETE RESTRICT,
    address            text,
    latitude           double precision,
    longitude          double precision,
    description        text,
    media_url          text,
    attributes         jsonb NOT NULL DEFAULT '{}',
    priority           smallint NOT NULL DEFAULT 0,
    escalation_level   smallint NOT NULL DEFAULT 0,
    access_token_hash  bytea NOT NULL,
    source             text NOT NULL,
    partner_key_id     bigint REFERENCES partner_api_keys (id) ON DELETE RESTRICT,
    routing_rule_id    bigint REFERENCES routing_rules (id) ON DELETE RESTRICT,
    routing_reason     text NOT NULL,
    response_due_at    timestamptz NOT NULL,
    resolution_due_at  timestamptz NOT NULL,
    first_claimed_at   timestamptz,
    paused_at          timestamptz,
    paused_minutes     integer NOT NULL DEFAULT 0,
    next_sla_at        timestamptz,
    next_sla_clock     text,
    next_sla_stage     smallint,
    outcome            text,
    public_message     text,
    reject_reason      text,
    version            integer NOT NULL DEFAULT 1,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    closed_at          timestamptz,

    CONSTRAINT service_requests_tracking_code_key UNIQUE (tracking_code),
    CONSTRAINT service_requests_tracking_code_format CHECK (tracking_code ~ '^[A-Z]{2,5}-[0-9A-Z-]{6,20}$'),
    CONSTRAINT service_requests_status_check CHECK (status IN ('queued', 'in_progress', 'waiting_citizen', 'completed', 'rejected', 'cancelled')),
    CONSTRAINT service_requests_source_check CHECK (source IN ('web', 'open311', 'counter')),

    -- Lifecycle invariants.
    CONSTRAINT service_requests_in_progress_has_owner CHECK (status <> 'in_progress' OR (assignee_id IS NOT NULL AND lease_expires_at IS NOT NULL)),
    CONSTRAINT service_requests_lease_only_in_progress CHECK (status = 'in_progress' OR lease_expires_at IS NULL),
    CONSTRAINT service_requests_claimed_before_work CHECK (status NOT IN ('in_progress', 'waiting_citizen') OR first_claimed_at IS NOT NULL),
    CONSTRAINT service_requests_paused_iff_waiting CHECK ((status = 'waiting_citizen') = (paused_at IS NOT NULL)),
    CONSTRAINT service_requests_closed_iff_final CHECK ((status IN ('completed', 'rejected', 'cancelled')) = (closed_at IS NOT NULL)),
    CONSTRAINT service_requests_no_sla_when_stopped CHECK (status IN ('queued', 'in_progress') OR next_sla_at IS NULL),
    CONSTRAINT service_requests_rejection_has_reason CHECK (status <> 'rejected' OR (reject_reason IS NOT NULL AND btrim(reject_reason) <> '')),
    CONSTRAINT service_requests_closed_after_created CHECK (closed_at >= created_at),

    -- SLA bookkeeping.
    CONSTRAINT service_requests_next_sla_all_or_none CHECK (
           (next_sla_at IS NULL AND next_sla_clock IS NULL AND next_sla_stage IS NULL)
        OR (next_sla_at IS NOT NULL AND next_sla_clock IS NOT NULL AND next_sla_stage IS NOT NULL)),
    CONSTRAINT service_requests_next_sla_clock_check CHECK (next_sla_clock IN ('response', 'resolution')),
    CONSTRAINT service_requests_next_sla_stage_positive CHECK (next_sla_stage >= 1),
    CONSTRAINT service_requests_response_clock_until_claim CHECK (next_sla_clock <> 'response' OR first_claimed_at IS NULL),
    CONSTRAINT service_requests_paused_minutes_not_negative CHECK (paused_minutes >= 0),

    -- Ranges.
    CONSTRAINT service_requests_priority_range CHECK (priority BETWEEN 0 AND 100),
    CONSTRAINT service_requests_escalation_level_not_negative CHECK (escalation_level >= 0),
    CONSTRAINT service_requests_version_positive CHECK (version >= 1),
    CONSTRAINT service_requests_latitude_range CHECK (latitude BETWEEN -90 AND 90),
    CONSTRAINT service_requests_longitude_range CHECK (longitude BETWEEN -180 AND 180),
    CONSTRAINT service_requests_coordinates_together CHECK ((latitude IS NULL) = (longitude IS NULL)),

    -- Citizen data.
    CONSTRAINT service_requests_citizen_nik_format CHECK (citizen_nik ~ '^[0-9]{16}$'),
    CONSTRAINT service_requests_citizen_phone_e164 CHECK (citizen_phone ~ '^\+[1-9][0-9]{6,14}$'),
    CONSTRAINT service_requests_citizen_email_format CHECK (citizen_email ~ '^[^@[:space:]]+@[^@[:space:]]+$' AND char_length(citizen_email) <= 254),
    CONSTRAINT service_requests_citizen_contact_required CHECK (citizen_phone IS NOT NULL OR citizen_email IS NOT NULL),
    CONSTRAINT service_requests_citizen_name_required CHECK (source = 'open311' OR (citizen_name IS NOT NULL AND btrim(citizen_name) <> '')),
    CONSTRAINT service_requests_description_length CHECK (char_length(description) <= 4000),
    CONSTRAINT service_requests_media_url_format CHECK (media_url ~ '^https?://' AND char_length(media_url) <= 2048),
    CONSTRAINT service_requests_attributes_object CHECK (jsonb_typeof(attributes) = 'object'),
    CONSTRAINT service_requests_access_token_hash_sha256 CHECK (octet_length(access_token_hash) = 32),

    -- Provenance.
    CONSTRAINT service_requests_partner_iff_open311 CHECK ((source = 'open311') = (partner_key_id IS NOT NULL)),
    CONSTRAINT service_requests_open311_has_location CHECK (source <> 'open311' OR latitude IS NOT NULL OR address IS NOT NULL OR area_code IS NOT NULL)
)
WITH (autovacuum_vacuum_scale_factor = 0.05, autovacuum_analyze_scale_factor = 0.02);

COMMENT ON TABLE service_requests IS
    'One citizen request and its current state: queue position, owner and lease, SLA deadlines and the next SLA stage. Every change writes a row to request_events in the same transaction; version guards concurrent edits.';
COMMENT ON COLUMN service_requests.tracking_code IS 'Public identifier: jurisdiction prefix, dash, Crockford base32 groups (e.g. SRG-7K3D-9QXA). The Open311 service_request_id.';
COMMENT ON COLUMN service_requests.unit_id IS 'The unit whose queue holds the request now (changes on transfer and on escalation to a parent unit).';
COMMENT ON COLUMN service_requests.status IS 'queued, in_progress (claimed, leased), waiting_citizen (clocks paused), completed, rejected, cancelled (the last three are final).';
COMMENT ON COLUMN service_requests.assignee_id IS 'The officer who holds or last held the request; required while in_progress.';
COMMENT ON COLUMN service_requests.lease_expires_at IS 'End of the current claim; extended by heartbeats; set only while in_progress. The lease rescuer re-queues expired claims.';
COMMENT ON COLUMN service_requests.citizen_nik IS 'Nomor Induk Kependudukan (16 digits); NULL for partner reports without one. Personal data: never public.';
COMMENT ON COLUMN service_requests.citizen_phone IS 'E.164, e.g. +6281234567890. Personal data: never public.';
COMMENT ON COLUMN service_requests.area_code IS 'The citizen''s kelurahan or kecamatan, used for routing.';
COMMENT ON COLUMN service_requests.media_url IS 'Open311 media_url supplied by a partner application.';
COMMENT ON COLUMN service_requests.attributes IS 'Answers to the service type''s Open311 attributes, keyed by attribute code (arrays for multivaluelist).';
COMMENT ON COLUMN service_requests.priority IS 'Queue priority 0..100; breaches add the policy''s priority_boost.';
COMMENT ON COLUMN service_requests.escalation_level IS 'How many escalations have happened; higher levels are claimed first.';
COMMENT ON COLUMN service_requests.access_token_hash IS 'SHA-256 of the citizen''s access token, which together with tracking_code opens the request''s status page.';
COMMENT ON COLUMN service_requests.partner_key_id IS 'The Open311 partner key that filed the request (source = open311).';
COMMENT ON COLUMN service_requests.routing_rule_id IS 'The routing rule that placed the request, NULL when the default unit or triage did.';
COMMENT ON COLUMN service_requests.routing_reason IS 'Human-readable explanation of the routing decision, kept even if rules change later.';
COMMENT ON COLUMN service_requests.response_due_at IS 'Deadline of the response clock (first claim), moved forward by pauses.';
COMMENT ON COLUMN service_requests.resolution_due_at IS 'Deadline of the resolution clock (final state), moved forward by pauses. Open311 expected_datetime.';
COMMENT ON COLUMN service_requests.paused_at IS 'When the current waiting_citizen period began; set exactly while status = waiting_citizen.';
COMMENT ON COLUMN service_requests.paused_minutes IS 'Working minutes spent in waiting_citizen so far (already added to the deadlines).';
COMMENT ON COLUMN service_requests.next_sla_at IS 'When the next SLA stage is due; NULL when none is pending (final, paused, or policy exhausted). The worker scans this column.';
COMMENT ON COLUMN service_requests.next_sla_clock IS 'Clock of the next SLA stage: response or resolution.';
COMMENT ON COLUMN service_requests.next_sla_stage IS 'Number of the next stage on that clock (1, 2, 3, ... continuing through repeats); matches sla_stage_log.stage.';
COMMENT ON COLUMN service_requests.outcome IS 'Internal summary of how the request was resolved.';
COMMENT ON COLUMN service_requests.public_message IS 'The latest message to the citizen (e.g. what to bring, where to collect the document).';
COMMENT ON COLUMN service_requests.reject_reason IS 'Reason the citizen reads when the request is rejected; required for status rejected.';
COMMENT ON COLUMN service_requests.version IS 'Optimistic-concurrency counter; every update increments it and checks the value the caller read.';

-- Claim queue: SELECT ... WHERE status = 'queued' AND unit_id = $1
--   ORDER BY escalation_level DESC, priority DESC, resolution_due_at, id LIMIT 1 FOR UPDATE SKIP LOCKED
CREATE INDEX service_requests_claim_queue_idx
    ON service_requests (unit_id, escalation_level DESC, priority DESC, resolution_due_at, id)
    WHERE status = 'queued';
-- SLA scan: WHERE next_sla_at <= now() ORDER BY next_sla_at LIMIT n FOR UPDATE SKIP LOCKED
CREATE INDEX service_requests_next_sla_idx
    ON service_requests (next_sla_at)
    WHERE next_sla_at IS NOT NULL;
-- Lease rescuer: WHERE status = 'in_progress' AND lease_expires_at <= now()
CREATE INDEX service_requests_lease_expiry_idx
    ON service_requests (lease_expires_at)
    WHERE status = 'in_progress';
-- Intake: does this NIK already have an open request of this service?
CREATE INDEX service_requests_open_by_nik_idx
    ON service_requests (citizen_nik, service_type_id)
    WHERE status IN ('queued', 'in_progress', 'waiting_citizen');
-- Workload per unit and the unit's in-progress/waiting lists.
CREATE INDEX service_requests_open_by_unit_idx
    ON service_requests (unit_id, status)
    WHERE status IN ('queued', 'in_progress', 'waiting_citizen');
-- An officer's own open work.
CREATE INDEX service_requests_open_by_assignee_idx
    ON service_requests (assignee_id)
    WHERE status IN ('in_progress', 'waiting_citizen');
-- Period reports and Open311 listings (requested_datetime ranges).
CREATE INDEX service_requests_created_at_idx ON service_requests (created_at);

CREATE TABLE request_events (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    request_id      bigint NOT NULL REFERENCES service_requests (id) ON DELETE RESTRICT,
    at              timestamptz NOT NULL DEFAULT now(),
    actor_kind      text NOT NULL,
    actor_staff_id  bigint REFERENCES staff (id) ON DELETE RESTRICT,
    kind            text NOT NULL,
    from_status     text,
    to_status       text,
    from_unit_id    bigint REFERENCES units (id) ON DELETE RESTRICT,
    to_unit_id      bigint REFERENCES units (id) ON DELETE RESTRICT,
    is_public       boolean NOT NULL DEFAULT false,
    message         text,
    data            jsonb NOT NULL DEFAULT '{}',
    CONSTRAINT request_events_actor_kind_check CHECK (actor_kind IN ('citizen', 'staff', 'system', 'partner')),
    CONSTRAINT request_events_staff_actor_named CHECK ((actor_kind = 'staff') = (actor_staff_id IS NOT NULL)),
    CONSTRAINT request_events_kind_check CHECK (kind IN (
        'created', 'claimed', 'released', 'lease_expired', 'asked_citizen', 'citizen_replied',
        'resolved', 'rejected', 'cancelled', 'transferred', 'escalated', 'assigned', 'note',
        'sla_stage', 'deadline_recomputed', 'document_added', 'feedback')),
    CONSTRAINT request_events_from_status_check CHECK (from_status IN ('queued', 'in_progress', 'waiting_citizen', 'completed', 'rejected', 'cancelled')),
    CONSTRAINT request_events_to_status_check CHECK (to_status IN ('queued', 'in_progress', 'waiting_citizen', 'completed', 'rejected', 'cancelled')),
    CONSTRAINT request_events_data_object CHECK (jsonb_typeof(data) = 'object')
);
COMMENT ON TABLE request_events IS
    'Append-only audit trail: one row per state change or notable action on a request, written in the same transaction as the change. UPDATE, DELETE and TRUNCATE are refused by trigger.';
COMMENT ON COLUMN request_events.actor_kind IS 'Who acted: citizen (with the access token), staff (actor_staff_id), system (worker: SLA, lease expiry), partner (Open311 application).';
COMMENT ON COLUMN request_events.actor_staff_id IS 'The acting officer; set exactly when actor_kind = staff.';
COMMENT ON COLUMN request_events.from_status IS 'Status before the event; NULL when the status did not change (and for created).';
COMMENT ON COLUMN request_events.to_status IS 'Status after the event; NULL when the status did not change.';
COMMENT ON COLUMN request_events.from_unit_id IS 'Unit before a transfer or move to a parent unit.';
COMMENT ON COLUMN request_events.to_unit_id IS 'Unit after a transfer or move to a parent unit.';
COMMENT ON COLUMN request_events.is_public IS 'Shown on the citizen''s timeline (and public listings when the service is public).';
COMMENT ON COLUMN request_events.data IS 'Kind-specific details, e.g. {"clock","stage","percent","breach"} for sla_stage or {"assignee_id"} for assigned.';
-- A request's timeline in order.
CREATE INDEX request_events_request_id_idx ON request_events (request_id, id);
-- Per-officer activity reports and the staff foreign key.
CREATE INDEX request_events_actor_staff_idx ON request_events (actor_staff_id, at) WHERE actor_staff_id IS NOT NULL;

CREATE FUNCTION request_events_refuse_change() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    RAISE EXCEPTION 'request_events is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'restrict_violation',
              HINT = 'Record a correction as a new event instead.';
END
$$;
CREATE TRIGGER request_events_append_only
    BEFORE UPDATE OR DELETE ON request_events
    FOR EACH ROW EXECUTE FUNCTION request_events_refuse_change();
CREATE TRIGGER request_events_no_truncate
    BEFORE TRUNCATE ON request_events
    FOR EACH STATEMENT EXECUTE FUNCTION request_events_refuse_change();

CREATE TABLE sla_stage_log (
    request_id              bigint NOT NULL REFERENCES service_requests (id) ON DELETE CASCADE,
    clock                   text NOT NULL,
    stage                   smallint NOT NULL,
    percent                 integer NOT NULL,
    due_at                  timestamptz NOT NULL,
    applied_at              timestamptz NOT NULL DEFAULT now(),
    breach                  boolean NOT NULL DEFAULT false,
    escalation_level_after  smallint NOT NULL,
    PRIMARY KEY (request_id, clock, stage),
    CONSTRAINT sla_stage_log_clock_check CHECK (clock IN ('response', 'resolution')),
    CONSTRAINT sla_stage_log_stage_positive CHECK (stage >= 1),
    CONSTRAINT sla_stage_log_percent_positive CHECK (percent > 0),
    CONSTRAINT sla_stage_log_escalation_level_not_negative CHECK (escalation_level_after >= 0)
);
COMMENT ON TABLE sla_stage_log IS
    'Each SLA stage applied to a request, at most once: the primary key (request, clock, stage) makes INSERT ... ON CONFLICT DO NOTHING the exactly-once gate when several workers scan at the same time.';
COMMENT ON COLUMN sla_stage_log.stage IS 'Stage number on the clock: 1, 2, 3 in the order of the policy''s stages, then continuing for repeats.';
COMMENT ON COLUMN sla_stage_log.percent IS 'Share of the target elapsed at this stage (50, 75, 100, 150, ...).';
COMMENT ON COLUMN sla_stage_log.due_at IS 'When the stage was due (the worker may apply it a little later, at applied_at).';
COMMENT ON COLUMN sla_stage_log.breach IS 'True for the stage that records the breach of the target.';
COMMENT ON COLUMN sla_stage_log.escalation_level_after IS 'The request''s escalation_level after the stage was applied.';
-- Breach reports over a period.
CREATE INDEX sla_stage_log_breach_idx ON sla_stage_log (applied_at) WHERE breach;

CREATE TABLE documents (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    request_id    bigint NOT NULL REFERENCES service_requests (id) ON DELETE CASCADE,
    uploaded_by   text NOT NULL,
    staff_id      bigint REFERENCES staff (id) ON DELETE RESTRICT,
    filename      text NOT NULL,
    content_type  text NOT NULL,
    size_bytes    integer NOT NULL,
    sha256        bytea NOT NULL,
    content       bytea NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT documents_uploaded_by_check CHECK (uploaded_by IN ('citizen', 'staff')),
    CONSTRAINT documents_staff_uploader_named CHECK ((uploaded_by = 'staff') = (staff_id IS NOT NULL)),
    CONSTRAINT documents_filename_safe CHECK (char_length(filename) BETWEEN 1 AND 255 AND filename !~ '[/\\[:cntrl:]]'),
    CONSTRAINT documents_content_type_check CHECK (content_type IN ('application/pdf', 'image/jpeg', 'image/png')),
    CONSTRAINT documents_size_range CHECK (size_bytes BETWEEN 1 AND 10485760),
    CONSTRAINT documents_size_matches_content CHECK (octet_length(content) = size_bytes),
    CONSTRAINT documents_sha256_length CHECK (octet_length(sha256) = 32)
);
-- PDFs and images are already compressed: store out of line without trying to compress again.
ALTER TABLE documents ALTER COLUMN content SET STORAGE EXTERNAL;
COMMENT ON TABLE documents IS
    'Files attached to a request (scans of requirements, issued letters): PDF, JPEG or PNG up to 10 MiB, stored in the database.';
COMMENT ON COLUMN documents.staff_id IS 'The uploading officer; set exactly when uploaded_by = staff.';
COMMENT ON COLUMN documents.filename IS 'Original file name as given by the uploader (no path separators or control characters).';
COMMENT ON COLUMN documents.sha256 IS 'SHA-256 of content, for integrity checks and ETags.';
CREATE INDEX documents_request_id_idx ON documents (request_id);

CREATE TABLE feedback (
    request_id  bigint PRIMARY KEY REFERENCES service_requests (id) ON DELETE CASCADE,
    u1          smallint NOT NULL,
    u2          smallint NOT NULL,
    u3          smallint NOT NULL,
    u4          smallint NOT NULL,
    u5          smallint NOT NULL,
    u6          smallint NOT NULL,
    u7          smallint NOT NULL,
    u8          smallint NOT NULL,
    u9          smallint NOT NULL,
    comment     text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT feedback_scores_range CHECK (
            u1 BETWEEN 1 AND 4 AND u2 BETWEEN 1 AND 4 AND u3 BETWEEN 1 AND 4
        AND u4 BETWEEN 1 AND 4 AND u5 BETWEEN 1 AND 4 AND u6 BETWEEN 1 AND 4
        AND u7 BETWEEN 1 AND 4 AND u8 BETWEEN 1 AND 4 AND u9 BETWEEN 1 AND 4),
    CONSTRAINT feedback_comment_length CHECK (char_length(comment) <= 2000)
);
COMMENT ON TABLE feedback IS
    'Citizen satisfaction survey (SKM) on a closed request, one per request: the nine IKM elements of PermenPAN-RB 14/2017 scored 1..4.';
COMMENT ON COLUMN feedback.u1 IS 'U1 Persyaratan (requirements).';
COMMENT ON COLUMN feedback.u2 IS 'U2 Sistem, mekanisme, dan prosedur (procedure).';
COMMENT ON COLUMN feedback.u3 IS 'U3 Waktu penyelesaian (completion time).';
COMMENT ON COLUMN feedback.u4 IS 'U4 Biaya/tarif (fee).';
COMMENT ON COLUMN feedback.u5 IS 'U5 Produk spesifikasi jenis pelayanan (product).';
COMMENT ON COLUMN feedback.u6 IS 'U6 Kompetensi pelaksana (competence).';
COMMENT ON COLUMN feedback.u7 IS 'U7 Perilaku pelaksana (conduct).';
COMMENT ON COLUMN feedback.u8 IS 'U8 Sarana dan prasarana (facilities).';
COMMENT ON COLUMN feedback.u9 IS 'U9 Penanganan pengaduan, saran dan masukan (complaint handling).';
-- IKM over a period.
CREATE INDEX feedback_created_at_idx ON feedback (created_at);

------------------------------------------------------------------------------------------------
-- Delivery and idempotency
------------------------------------------------------------------------------------------------

CREATE TABLE notification_outbox (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    request_id          bigint REFERENCES service_requests (id) ON DELETE CASCADE,
    recipient_kind      text NOT NULL,
    recipient_staff_id  bigint REFERENCES staff (id) ON DELETE RESTRICT,
    channel             text NOT NULL,
    topic               text NOT NULL,
    payload             jsonb NOT NULL DEFAULT '{}',
    created_at          timestamptz NOT NULL DEFAULT now(),
    available_at        timestamptz NOT NULL DEFAULT now(),
    attempts            integer NOT NULL DEFAULT 0,
    last_error          text,
    delivered_at        timestamptz,
    dead_at             timestamptz,
    CONSTRAINT notification_outbox_recipient_kind_check CHECK (recipient_kind IN ('citizen', 'staff', 'manager')),
    CONSTRAINT notification_outbox_citizen_needs_request CHECK (recipient_kind <> 'citizen' OR (request_id IS NOT NULL AND recipient_staff_id IS NULL)),
    CONSTRAINT notification_outbox_staff_needs_person CHECK (recipient_kind <> 'staff' OR recipient_staff_id IS NOT NULL),
    CONSTRAINT notification_outbox_channel_check CHECK (channel IN ('webhook', 'log')),
    CONSTRAINT notification_outbox_topic_format CHECK (topic ~ '^[a-z][a-z_]*(\.[a-z][a-z_]*)+$'),
    CONSTRAINT notification_outbox_payload_object CHECK (jsonb_typeof(payload) = 'object'),
    CONSTRAINT notification_outbox_attempts_not_negative CHECK (attempts >= 0),
    CONSTRAINT notification_outbox_delivered_or_dead CHECK (delivered_at IS NULL OR dead_at IS NULL)
)
WITH (autovacuum_vacuum_scale_factor = 0.05, autovacuum_analyze_scale_factor = 0.02);
COMMENT ON TABLE notification_outbox IS
    'Transactional outbox: notifications are inserted in the same transaction as the change that causes them and delivered later by workers (claim with SKIP LOCKED, push available_at forward as a visibility timeout, retry with backoff, dead after too many attempts).';
COMMENT ON COLUMN notification_outbox.recipient_kind IS 'citizen (contact details from the request), staff (recipient_staff_id), manager (a manager, or the managers of the request''s unit when recipient_staff_id is NULL).';
COMMENT ON COLUMN notification_outbox.topic IS 'Dotted topic, e.g. request.received, request.asked, request.resolved, request.rejected, staff.assigned, sla.warning, sla.escalated, sla.breach, lease.expired.';
COMMENT ON COLUMN notification_outbox.available_at IS 'Not delivered before this instant: retry backoff, and the visibility timeout of a worker that has taken the row.';
COMMENT ON COLUMN notification_outbox.attempts IS 'Delivery attempts so far.';
COMMENT ON COLUMN notification_outbox.dead_at IS 'Set when delivery is abandoned; the row stays for inspection.';
-- Dispatcher: WHERE delivered_at IS NULL AND dead_at IS NULL AND available_at <= now() ORDER BY available_at, id
CREATE INDEX notification_outbox_pending_idx
    ON notification_outbox (available_at, id)
    WHERE delivered_at IS NULL AND dead_at IS NULL;

CREATE TABLE idempotency_keys (
    scope                  text NOT NULL,
    key                    text NOT NULL,
    request_hash           bytea NOT NULL,
    response_status        integer,
    response_content_type  text,
    response_body          bytea,
    request_id             bigint REFERENCES service_requests (id) ON DELETE CASCADE,
    created_at             timestamptz NOT NULL DEFAULT now(),
    expires_at             timestamptz NOT NULL,
    PRIMARY KEY (scope, key),
    CONSTRAINT idempotency_keys_scope_length CHECK (char_length(scope) BETWEEN 1 AND 100),
    CONSTRAINT idempotency_keys_key_length CHECK (char_length(key) BETWEEN 1 AND 255),
    CONSTRAINT idempotency_keys_request_hash_sha256 CHECK (octet_length(request_hash) = 32),
    CONSTRAINT idempotency_keys_response_status_range CHECK (response_status BETWEEN 100 AND 599),
    CONSTRAINT idempotency_keys_response_complete CHECK (response_status IS NOT NULL OR (response_body IS NULL AND response_content_type IS NULL)),
    CONSTRAINT idempotency_keys_expires_after_creation CHECK (expires_at > created_at)
)
WITH (autovacuum_vacuum_scale_factor = 0.05);
COMMENT ON TABLE idempotency_keys IS
    'Idempotency-Key records for request-creating POSTs: a retry with the same key and the same body gets the stored response; the same key with a different body is refused.';
COMMENT ON COLUMN idempotency_keys.scope IS 'Namespace of the key: citizen for the public API, partner:<partner_api_keys.id> for Open311 partners.';
COMMENT ON COLUMN idempotency_keys.key IS 'The client''s Idempotency-Key header value (1..255 characters).';
COMMENT ON COLUMN idempotency_keys.request_hash IS 'SHA-256 of the canonical request (method, path, body) that first used the key.';
COMMENT ON COLUMN idempotency_keys.response_status IS 'HTTP status of the stored response; NULL while the first request is still being processed.';
COMMENT ON COLUMN idempotency_keys.response_content_type IS 'Content-Type of the stored response (JSON or Open311 XML).';
COMMENT ON COLUMN idempotency_keys.expires_at IS 'After this instant the key may be purged and reused.';
-- Purge of expired keys.
CREATE INDEX idempotency_keys_expires_at_idx ON idempotency_keys (expires_at);
CREATE INDEX idempotency_keys_request_id_idx ON idempotency_keys (request_id) WHERE request_id IS NOT NULL;
