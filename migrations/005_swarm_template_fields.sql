-- 005: template fields for the swarm backend (and resource limits for both):
-- how the port is published, tasks per instance, placement constraints,
-- CPU and memory limits. Existing templates keep their behaviour: ingress
-- publishing, one task, no constraints, no limits.

ALTER TABLE templates ADD COLUMN publish_mode TEXT NOT NULL DEFAULT ''
    CHECK (publish_mode IN ('', 'ingress', 'host'));
ALTER TABLE templates ADD COLUMN replicas INTEGER NOT NULL DEFAULT 0
    CHECK (replicas BETWEEN 0 AND 1000);
ALTER TABLE templates ADD COLUMN constraints TEXT NOT NULL DEFAULT '[]';  -- JSON array of strings
ALTER TABLE templates ADD COLUMN cpu_limit REAL NOT NULL DEFAULT 0
    CHECK (cpu_limit >= 0);
ALTER TABLE templates ADD COLUMN memory_limit_bytes INTEGER NOT NULL DEFAULT 0
    CHECK (memory_limit_bytes >= 0);
