-- 007: the five seed templates' open ranges ran up to 65535, into the
-- kernel's ephemeral ports, with a warning at every start. Each keeps the
-- port it prefers (8000+, 8010+, ... as in the original design) and gets
-- the 100 ports from there. A template an operator has replaced since
-- (its updated_at moved) is left as it is.
UPDATE templates SET port_range_end = port_range_start + 99
WHERE port_range_end = 0 AND created_at = updated_at
  AND name IN ('buckets', 'db', 'auth_service', 'file_manager', 'database_service');
