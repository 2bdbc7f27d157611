-- A dashboard session lives in a signed cookie (up to 8 hours). Signing out records the session's
-- nonce, so that a copy of the cookie (another tab, a browser left open on a shared office
-- computer, a cookie taken before the sign-out) no longer opens the dashboard. A row is needed
-- only until the cookie would have expired anyway; the worker's retention pass removes it then.
CREATE TABLE dashboard_sign_outs (
    nonce text PRIMARY KEY CHECK (length(nonce) BETWEEN 1 AND 128),
    staff_id bigint NOT NULL REFERENCES staff (id),
    signed_out_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX dashboard_sign_outs_expires_idx ON dashboard_sign_outs (expires_at);

COMMENT ON TABLE dashboard_sign_outs IS
    'Manager dashboard sessions ended by signing out (by the cookie''s nonce): refused from then on. Purged once expires_at, the cookie''s own expiry, has passed.';
