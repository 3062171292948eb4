-- 006: calls refused for want of a valid token are kept apart from the
-- audit log, in a table of their own with its own bound: a flood of
-- unauthenticated calls can no longer push authenticated history out.
CREATE TABLE audit_refused (
    id          INTEGER PRIMARY KEY,
    time        TEXT NOT NULL,                   -- RFC 3339 UTC
    token_name  TEXT NOT NULL,                   -- always '' (no valid token)
    peer        TEXT NOT NULL,
    method      TEXT NOT NULL,
    target      TEXT NOT NULL,                   -- '' (the request is not decoded)
    code        INTEGER NOT NULL,
    request_id  TEXT NOT NULL DEFAULT ''
) STRICT;

-- Retention by age deletes the oldest rows by time.
CREATE INDEX audit_time ON audit (time);
CREATE INDEX audit_refused_time ON audit_refused (time);
