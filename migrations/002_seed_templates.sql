-- 002: the five templates of the seed. Their images are the operator's own
-- FastAPI services listening on 8000; replace them with PutTemplate
-- (berth template add ...) before launching.

INSERT INTO templates (name, description, image, container_port, port_range_start,
                       port_range_end, mount_path, created_at, updated_at)
VALUES
    ('buckets',          'Bucket service',          'uws/buckets:latest',          8000, 8000, 0, '/app', strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    ('db',               'Database service',        'uws/db:latest',               8000, 8010, 0, '/app', strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    ('auth_service',     'Authentication service',  'uws/auth_service:latest',     8000, 8020, 0, '/app', strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    ('file_manager',     'File management service', 'uws/file_manager:latest',     8000, 8030, 0, '/app', strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    ('database_service', 'Database service',        'uws/database_service:latest', 8000, 8040, 0, '/app', strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), strftime('%Y-%m-%dT%H:%M:%SZ', 'now'));
