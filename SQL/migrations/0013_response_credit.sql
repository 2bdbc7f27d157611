-- The response clock measures how long a request waited for someone to take it up. Its result was
-- counted with the request's closing, for the unit it ended in and the officer who closed it: a
-- late claim followed by a release or a transfer charged the next officer, or the unit it was sent
-- to, with a wait that was not theirs (and the public per-unit record with it). A request now keeps
-- who first claimed or assigned it and the unit it was in then, and its closing credits the
-- response to them.
--
-- Requests claimed before this migration have neither: their response still counts with their
-- closing, as before (as do requests an older server claims during the rollout).
--
-- The new columns have no default and every value is NULL, so the tables are neither rewritten
-- nor scanned: the ALTERs are quick once they hold their lock. Waiting for it (behind a long report
-- reading service_requests, say) would hold every claim and resolve up behind them, so they give
-- up after 10 seconds instead; `loketd migrate` can then simply be run again.
SET LOCAL lock_timeout = '10s';

ALTER TABLE service_requests
    ADD COLUMN first_claimed_by bigint REFERENCES staff (id) ON DELETE RESTRICT,
    ADD COLUMN first_claim_unit_id bigint REFERENCES units (id) ON DELETE RESTRICT;

COMMENT ON COLUMN service_requests.first_claimed_by IS
    'The officer whose claim, or the supervisor whose assignment, first took the request up (stopping the response clock); NULL before that, and on requests first claimed before 0013.';
COMMENT ON COLUMN service_requests.first_claim_unit_id IS
    'The unit the request was in at its first claim or assignment: the unit its response result counts for.';

ALTER TABLE request_outcomes
    ADD COLUMN response_unit_id bigint REFERENCES units (id) ON DELETE RESTRICT,
    ADD COLUMN response_officer_id bigint REFERENCES staff (id) ON DELETE RESTRICT;

COMMENT ON COLUMN request_outcomes.response_unit_id IS
    'The unit response_met counts for (the unit of the first claim); NULL when it counts with the closing (unit_id), as for requests never claimed or claimed before 0013.';
COMMENT ON COLUMN request_outcomes.response_officer_id IS
    'The officer response_met counts for (who first claimed or assigned the request); NULL with response_unit_id.';

COMMENT ON TABLE request_outcomes IS
    'Facts of each closed request, fixed when it closed (final unit, closing officer, on time or not per clock, working minutes to resolve less pauses, breaches, escalations, transfers; since 0013 the unit and officer its response result counts for).';
COMMENT ON TABLE report_daily IS
    'Per day, unit, service type and officer: closed requests (for the closing officer), on-time counts per clock (the response clock for the officer who first claimed the request, in the unit it was in then: a row of its own, with closed 0, when that is not the closing''s), breaches, escalations, transfers, paused time, a 15-minute histogram of working time to resolve, and IKM feedback sums per element.';
