-- 004: API tokens (authentication and roles) and the audit log of changes.

-- One row per token. The token itself is never stored: only a salted
-- SHA-256 of it. token_id is the first 12 hex digits of the token's random
-- part, so a call finds its row by index and hashes once.
CREATE TABLE tokens (
    name         TEXT PRIMARY KEY,
    token_id     TEXT NOT NULL UNIQUE,
    role         TEXT NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
    salt         BLOB NOT NULL,
    hash         BLOB NOT NULL,                  -- SHA-256(salt || token)
    created_at   TEXT NOT NULL,
    last_used_at TEXT NOT NULL DEFAULT ''        -- '' = never; updated at most once a minute
) STRICT;

-- One row per mutating call (allowed or refused), newest last.
CREATE TABLE audit (
    id          INTEGER PRIMARY KEY,
    time        TEXT NOT NULL,                   -- RFC 3339 UTC
    token_name  TEXT NOT NULL,                   -- '' = no token; 'local' = ipc caller without one
    peer        TEXT NOT NULL,                   -- "ipc uid=0 pid=42", "10.0.0.5:51234", or ''
    method      TEXT NOT NULL,                   -- "/berth.v1.Berth/LaunchService"
    target      TEXT NOT NULL,                   -- service id or template name of the request
    code        INTEGER NOT NULL,                -- berth.v1.Code of the answer
    request_id  TEXT NOT NULL DEFAULT ''
) STRICT;
