-- 014: berth's events kept (issue 17). Every event berthd publishes is
-- also written here by core/event_log.c's writer thread, a batch at a time;
-- only the newest --events-keep rows stay. WatchEvents reads them from
-- memory; this table is what a restart loads, so sequences go on.
CREATE TABLE events (
    sequence   INTEGER PRIMARY KEY,
    time       TEXT NOT NULL,
    type       INTEGER NOT NULL,
    service_id TEXT NOT NULL DEFAULT '',
    template   TEXT NOT NULL DEFAULT '',
    port       INTEGER NOT NULL DEFAULT 0,
    status     TEXT NOT NULL DEFAULT '',
    message    TEXT NOT NULL DEFAULT ''
) STRICT;

-- Sequences handed out ahead of the writer: a berthd killed before its
-- last events reached the table starts above this, so no sequence a
-- client saw is ever given to another event.
CREATE TABLE event_sequence (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    reserved INTEGER NOT NULL
) STRICT;
INSERT INTO event_sequence (id, reserved) VALUES (1, 0);
