-- 003: progress of a graceful shutdown, so that a berthd killed in the
-- middle of its own shutdown finishes that cleanup when it next starts.
-- At most one row (id = 1) exists while a shutdown is under way.

CREATE TABLE shutdown_state (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    policy     TEXT NOT NULL CHECK (policy IN ('remove', 'stop', 'keep')),
    started_at TEXT NOT NULL
) STRICT;
