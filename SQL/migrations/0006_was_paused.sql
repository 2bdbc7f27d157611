-- Whether a request has ever waited for the citizen. Its SLA clocks are rebuilt from the pauses in
-- the audit trail on every change and by `loketd admin recompute-sla`, but only when the request
-- shows a pause (paused_at, or paused_minutes above 0). A pause that covered no working time
-- (asked at closing time, answered on a holiday) left neither, and was then never measured again:
-- after a calendar change that made that time working time (a joint-leave day cancelled), the
-- deadline came a pause too early. The flag is set when a request leaves waiting_citizen.
ALTER TABLE service_requests ADD COLUMN was_paused boolean NOT NULL DEFAULT false;
UPDATE service_requests r SET was_paused = true
WHERE EXISTS (SELECT 1 FROM request_events e WHERE e.request_id = r.id AND e.kind = 'asked_citizen');
COMMENT ON COLUMN service_requests.was_paused IS
    'The request has waited for the citizen at least once: its clocks are rebuilt with the pauses recorded in request_events.';
