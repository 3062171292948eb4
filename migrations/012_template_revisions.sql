-- 012: template revisions (issue 16, section 1). Every write of a template
-- that changes what a container is made of (anything but its description)
-- makes the next revision: its number, its content and a one-line summary
-- of what changed. A service records the revision it was made from and the
-- ID of the image its container runs ("sha256:...", '' while unknown); it
-- is outdated when its revision is not its template's current one.
--
-- content is the template as JSON in the shared codec's form
-- (common/json_codec.h: the proto's field names), secret_env as "KEY=***":
-- secret values live in template_secrets only, never here. A template's
-- revisions go with it.
CREATE TABLE template_revisions (
    template   TEXT NOT NULL REFERENCES templates (name) ON DELETE CASCADE,
    revision   INTEGER NOT NULL CHECK (revision >= 1),
    created_at TEXT NOT NULL,
    summary    TEXT NOT NULL,
    content    TEXT NOT NULL,
    PRIMARY KEY (template, revision)
) STRICT;

ALTER TABLE templates ADD COLUMN revision INTEGER NOT NULL DEFAULT 0;
ALTER TABLE services ADD COLUMN revision INTEGER NOT NULL DEFAULT 0;
ALTER TABLE services ADD COLUMN image_id TEXT NOT NULL DEFAULT '';

-- Every template there is becomes revision 1 with what it is now.
UPDATE templates SET revision = 1;
INSERT INTO template_revisions (template, revision, created_at, summary, content)
SELECT name, 1, updated_at, 'created',
    json_object(
        'name', name, 'description', description, 'image', image,
        'build_context', build_context, 'container_port', container_port,
        'port_range_start', port_range_start, 'port_range_end', port_range_end,
        'mount_path', mount_path, 'env', json(env), 'command', json(command),
        'stop_timeout_s', stop_timeout_s, 'publish_mode', publish_mode,
        'replicas', replicas, 'constraints', json(constraints),
        'cpu_limit', cpu_limit, 'memory_limit_bytes', memory_limit_bytes,
        'secret_env', (SELECT json_group_array(key || '=***') FROM
                       (SELECT key FROM template_secrets
                        WHERE template_secrets.template = templates.name ORDER BY key)),
        'init', json(CASE WHEN init != 0 THEN 'true' ELSE 'false' END),
        'user', container_user, 'restart', restart_policy,
        'max_restarts', max_restarts, 'restart_window_s', restart_window_s,
        'health', CASE WHEN health_kind IN ('none', '') THEN NULL ELSE json_object(
            'kind', health_kind, 'http_path', health_path,
            'exec_command', json(health_command), 'interval_s', health_interval_s,
            'timeout_s', health_timeout_s, 'retries', health_retries,
            'start_period_s', health_start_period_s) END,
        'revision', 1)
FROM templates;

-- What runs now was made from the template as it is now, image unknown.
UPDATE services SET revision = 1;
