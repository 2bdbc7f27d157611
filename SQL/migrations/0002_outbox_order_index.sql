-- The outbox dispatcher delivers in order per request: a row waits while an earlier undelivered,
-- not-dead row of the same request exists. This index turns that check into one lookup per
-- candidate instead of a pass over the whole pending set, which matters during a long receiver
-- outage when the backlog grows. It also serves the request_id foreign key on deletion.
CREATE INDEX notification_outbox_pending_by_request_idx
    ON notification_outbox (request_id, id)
    WHERE delivered_at IS NULL AND dead_at IS NULL;
