-- 013: rollouts (issue 16, section 2). A rollout replaces a template's
-- outdated instances by one revision, a few at a time; it is journaled
-- here at every step so that a berthd killed mid-way finishes or rolls
-- back the instance in flight on its next start (core/rollout.c).
--
-- id is "<template>-<seq>". state: running, paused, done, failed, aborted.
-- An instance's state: pending, updating, done, rolled_back, skipped,
-- failed; while "updating", old_container_id is the container renamed
-- aside ("<service_id>.old") and new_container_id the one made from the
-- rollout's revision ('' until created). A template's rollouts go with it.
CREATE TABLE rollouts (
    id           TEXT PRIMARY KEY,
    template     TEXT NOT NULL REFERENCES templates (name) ON DELETE CASCADE,
    seq          INTEGER NOT NULL,
    revision     INTEGER NOT NULL,
    state        TEXT NOT NULL,
    max_parallel INTEGER NOT NULL,
    on_failure   TEXT NOT NULL,
    min_ready_s  INTEGER NOT NULL,
    started_at   TEXT NOT NULL,
    finished_at  TEXT NOT NULL DEFAULT '',
    message      TEXT NOT NULL DEFAULT '',
    UNIQUE (template, seq)
) STRICT;

-- One running or paused rollout per template, also for two StartRollouts
-- checking at the same instant (the second insert fails).
CREATE UNIQUE INDEX rollouts_one_active ON rollouts (template)
    WHERE state IN ('running', 'paused');

CREATE TABLE rollout_instances (
    rollout_id       TEXT NOT NULL REFERENCES rollouts (id) ON DELETE CASCADE,
    position         INTEGER NOT NULL,
    service_id       TEXT NOT NULL,
    state            TEXT NOT NULL,
    from_revision    INTEGER NOT NULL,
    to_revision      INTEGER NOT NULL,
    message          TEXT NOT NULL DEFAULT '',
    old_container_id TEXT NOT NULL DEFAULT '',
    new_container_id TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (rollout_id, service_id)
) STRICT;
