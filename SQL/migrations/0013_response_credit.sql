-- The response clock measures how long a request waited for someone to take it up. Its result was
-- counted with the request's closing, for the unit it ended in and the officer who closed it: a
-- late claim followed by a release or a transfer charged the next officer, or the unit it was sent
-- to, with a wait that was not theirs (and the public per-unit record with it). A request now keeps
-- who first claimed or assigned it and the unit it was in then, and its closing credits the
-- response to them.
--
-- Requests claimed before this migration have neither: their response still counts with their
-- closing, as before. The new columns have no default, so the tables are not rewritten; checking
-- the new references reads service_requests once (every value is NULL).
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
