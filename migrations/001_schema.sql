-- 001: templates and the service registry.
-- Append-only: never edit a migration that has shipped; add a new file.

CREATE TABLE templates (
    name             TEXT PRIMARY KEY,
    description      TEXT NOT NULL DEFAULT '',
    image            TEXT NOT NULL,
    build_context    TEXT NOT NULL DEFAULT '',
    container_port   INTEGER NOT NULL CHECK (container_port BETWEEN 1 AND 65535),
    port_range_start INTEGER NOT NULL CHECK (port_range_start BETWEEN 1 AND 65535),
    port_range_end   INTEGER NOT NULL DEFAULT 0
                     CHECK (port_range_end = 0 OR port_range_end BETWEEN port_range_start AND 65535),
    mount_path       TEXT NOT NULL DEFAULT '',
    env              TEXT NOT NULL DEFAULT '[]',   -- JSON array of "KEY=VALUE"
    command          TEXT NOT NULL DEFAULT '[]',   -- JSON array of argv words
    stop_timeout_s   INTEGER NOT NULL DEFAULT 0 CHECK (stop_timeout_s BETWEEN 0 AND 3600),
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
) STRICT;

-- One row per service instance: the seed's service_registry.json.
-- status: creating -> running <-> stopped; exited/dead/missing as Docker
-- reports; removing while a removal is under way. A row in 'creating' or
-- 'removing' after a crash is finished or undone at start-up.
CREATE TABLE services (
    service_id      TEXT PRIMARY KEY,              -- <template>_<instance>
    template        TEXT NOT NULL REFERENCES templates (name) ON DELETE RESTRICT,
    instance        TEXT NOT NULL,
    instance_number INTEGER NOT NULL DEFAULT 0,    -- N of instance_N, 0 if named
    container_name  TEXT NOT NULL UNIQUE,
    container_id    TEXT NOT NULL DEFAULT '',
    port            INTEGER NOT NULL UNIQUE CHECK (port BETWEEN 1 AND 65535),
    project_dir     TEXT NOT NULL,
    status          TEXT NOT NULL DEFAULT 'creating',
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    UNIQUE (template, instance)
) STRICT;

CREATE INDEX services_by_status ON services (status);
