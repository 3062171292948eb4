-- 009: mutating calls by request id, so that a call is done once even when
-- berthd restarts in the middle of it and the client (nng's REQ resend, or
-- libberth's retry) sends it again. `key` is method + caller + request id;
-- `digest` the SHA-256 of the request's payload. A row is written when the
-- call starts; the call's first change stamps `subject` (the service or
-- template it touched, with what is needed to answer for it) in the same
-- transaction as the change; `reply` is the encoded answer once it is known.
-- A row with no reply is a call that was interrupted: the next attempt
-- reads `subject` to tell whether its change was made.
CREATE TABLE requests (
    key         TEXT PRIMARY KEY,
    digest      BLOB NOT NULL,
    subject     TEXT,
    detail      BLOB,
    reply       BLOB,
    started_at  INTEGER NOT NULL, -- unix ms
    finished_at INTEGER           -- unix ms; NULL while running
) STRICT, WITHOUT ROWID;

CREATE INDEX requests_started ON requests (started_at);
