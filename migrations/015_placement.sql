-- 015: where a swarm service's tasks run (issue 19). core/placement.c polls
-- Swarm's task list and keeps here the sorted, comma-separated host names
-- of the nodes running the service's tasks, so ListServices and `berth ls`
-- show the last placement berthd saw, also after a restart.
ALTER TABLE services ADD COLUMN nodes TEXT NOT NULL DEFAULT '';
