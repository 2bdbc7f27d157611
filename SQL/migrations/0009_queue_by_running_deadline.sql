-- Queues sort by the deadline of the clock that runs: the response deadline until the first claim,
-- the resolution deadline after it (the SLA LEFT column of `loket queue` counts down to the same
-- one). They sorted by the resolution deadline alone, so a request whose response deadline was
-- near waited behind requests of a service with a longer response target but a shorter
-- resolution target, and the list's SLA LEFT column was out of order.
--
-- The index of the old order (service_requests_claim_queue_idx) stays for this release: servers
-- of the previous release claim with it during a rollout (a release only adds; docs/deployment.md).
-- A later release drops it. The build blocks writes to service_requests while it runs (seconds
-- for a million requests): apply in a quiet hour.
CREATE INDEX service_requests_claim_queue_running_idx
    ON service_requests (unit_id, escalation_level DESC, priority DESC,
                         (CASE WHEN first_claimed_at IS NULL THEN response_due_at ELSE resolution_due_at END), id)
    WHERE status = 'queued';
