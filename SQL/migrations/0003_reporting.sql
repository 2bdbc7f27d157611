-- Reporting summaries, maintained in the same transaction as the change they summarise, so that
-- reports over years of data read a few thousand summary rows instead of every request.

-- One row per request that reached a final state: the facts reports are made of, fixed at closing.
CREATE TABLE request_outcomes (
    request_id                   bigint PRIMARY KEY REFERENCES service_requests (id) ON DELETE CASCADE,
    service_type_id              bigint NOT NULL REFERENCES service_types (id) ON DELETE RESTRICT,
    unit_id                      bigint NOT NULL REFERENCES units (id) ON DELETE RESTRICT,
    officer_id                   bigint REFERENCES staff (id) ON DELETE RESTRICT,
    status                       text NOT NULL,
    created_at                   timestamptz NOT NULL,
    closed_at                    timestamptz NOT NULL,
    closed_day                   date NOT NULL,
    response_met                 boolean,
    resolution_met               boolean NOT NULL,
    resolution_working_minutes   integer NOT NULL,
    paused_minutes               integer NOT NULL,
    escalation_level             smallint NOT NULL,
    breaches                     smallint NOT NULL,
    transfers                    smallint NOT NULL,
    CONSTRAINT request_outcomes_status_check CHECK (status IN ('completed', 'rejected', 'cancelled')),
    CONSTRAINT request_outcomes_minutes_not_negative CHECK (resolution_working_minutes >= 0 AND paused_minutes >= 0)
);
COMMENT ON TABLE request_outcomes IS
    'Facts of each closed request, fixed when it closed (final unit, closing officer, on time or not per clock, working minutes to resolve less pauses, breaches, escalations, transfers).';
COMMENT ON COLUMN request_outcomes.closed_day IS 'The calendar day of closing in the jurisdiction''s time zone (Asia/Jakarta), the key of the daily summaries.';
COMMENT ON COLUMN request_outcomes.response_met IS 'First claim by the response deadline; NULL when the request closed without ever being claimed.';
CREATE INDEX request_outcomes_closed_day_idx ON request_outcomes (closed_day);

-- Daily summary per unit, service type and closing officer (0 = none). Counters add up; the
-- histogram counts resolution times in 15-working-minute buckets (index 1 = 0–15 minutes), so
-- medians and 90th percentiles come out to the quarter hour without reading every request.
CREATE TABLE report_daily (
    day                     date NOT NULL,
    unit_id                 bigint NOT NULL REFERENCES units (id) ON DELETE RESTRICT,
    service_type_id         bigint NOT NULL REFERENCES service_types (id) ON DELETE RESTRICT,
    officer_id              bigint NOT NULL DEFAULT 0,
    closed                  integer NOT NULL DEFAULT 0,
    completed               integer NOT NULL DEFAULT 0,
    rejected                integer NOT NULL DEFAULT 0,
    cancelled               integer NOT NULL DEFAULT 0,
    response_measured       integer NOT NULL DEFAULT 0,
    response_met            integer NOT NULL DEFAULT 0,
    resolution_measured     integer NOT NULL DEFAULT 0,
    resolution_met          integer NOT NULL DEFAULT 0,
    breaches                integer NOT NULL DEFAULT 0,
    escalations             integer NOT NULL DEFAULT 0,
    transfers               integer NOT NULL DEFAULT 0,
    paused_minutes          bigint NOT NULL DEFAULT 0,
    resolve_histogram       integer[] NOT NULL DEFAULT '{}',
    feedback_count          integer NOT NULL DEFAULT 0,
    feedback_sums           integer[] NOT NULL DEFAULT '{0,0,0,0,0,0,0,0,0}',
    PRIMARY KEY (day, unit_id, service_type_id, officer_id)
);
COMMENT ON TABLE report_daily IS
    'Per day, unit, service type and closing officer: closed requests, on-time counts per clock, breaches, escalations, transfers, paused time, a 15-minute histogram of working time to resolve, and IKM feedback sums per element.';

-- The same per month without the officer: a year is twelve rows per unit and service.
CREATE TABLE report_monthly (
    month                   date NOT NULL,
    unit_id                 bigint NOT NULL REFERENCES units (id) ON DELETE RESTRICT,
    service_type_id         bigint NOT NULL REFERENCES service_types (id) ON DELETE RESTRICT,
    closed                  integer NOT NULL DEFAULT 0,
    completed               integer NOT NULL DEFAULT 0,
    rejected                integer NOT NULL DEFAULT 0,
    cancelled               integer NOT NULL DEFAULT 0,
    response_measured       integer NOT NULL DEFAULT 0,
    response_met            integer NOT NULL DEFAULT 0,
    resolution_measured     integer NOT NULL DEFAULT 0,
    resolution_met          integer NOT NULL DEFAULT 0,
    breaches                integer NOT NULL DEFAULT 0,
    escalations             integer NOT NULL DEFAULT 0,
    transfers               integer NOT NULL DEFAULT 0,
    paused_minutes          bigint NOT NULL DEFAULT 0,
    resolve_histogram       integer[] NOT NULL DEFAULT '{}',
    feedback_count          integer NOT NULL DEFAULT 0,
    feedback_sums           integer[] NOT NULL DEFAULT '{0,0,0,0,0,0,0,0,0}',
    PRIMARY KEY (month, unit_id, service_type_id),
    CONSTRAINT report_monthly_first_day CHECK (extract(day FROM month) = 1)
);
COMMENT ON TABLE report_monthly IS 'report_daily summed per calendar month, unit and service type (all officers).';

-- Element-wise sum of two count arrays of any lengths.
CREATE FUNCTION loket_add_counts(a integer[], b integer[]) RETURNS integer[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(array_agg(coalesce(a[i], 0) + coalesce(b[i], 0) ORDER BY i), '{}')
    FROM generate_series(1, greatest(coalesce(array_length(a, 1), 0), coalesce(array_length(b, 1), 0))) AS i
$$;
COMMENT ON FUNCTION loket_add_counts(integer[], integer[]) IS 'Adds two histograms or per-element sums element by element.';
