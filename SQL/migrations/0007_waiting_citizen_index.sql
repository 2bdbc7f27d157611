-- The worker's auto-close looks for requests waiting for the citizen since before a cut-off:
-- a partial index keeps that a small range read, whatever the size of the table.
CREATE INDEX service_requests_waiting_since_idx ON service_requests (paused_at, id) WHERE status = 'waiting_citizen';
