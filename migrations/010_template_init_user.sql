-- 010: per-template init process (Template.init, Docker's --init) and the
-- user containers run as (Template.user, "UID" or "UID:GID").
ALTER TABLE templates ADD COLUMN init INTEGER NOT NULL DEFAULT 0;
ALTER TABLE templates ADD COLUMN container_user TEXT NOT NULL DEFAULT '';
