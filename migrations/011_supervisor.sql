-- 011: berth keeps services alive (issue 15). Per template: the restart
-- policy with its give-up limit, and the health check. Per service: what
-- berth wants it to be, the policy override of its launch, the health
-- verdict, and the supervisor's bookkeeping (times in Unix milliseconds,
-- 0 for none).
ALTER TABLE templates ADD COLUMN restart_policy TEXT NOT NULL DEFAULT 'on-failure';
ALTER TABLE templates ADD COLUMN max_restarts INTEGER NOT NULL DEFAULT 5;
ALTER TABLE templates ADD COLUMN restart_window_s INTEGER NOT NULL DEFAULT 600;
ALTER TABLE templates ADD COLUMN health_kind TEXT NOT NULL DEFAULT 'none';
ALTER TABLE templates ADD COLUMN health_path TEXT NOT NULL DEFAULT '';
ALTER TABLE templates ADD COLUMN health_command TEXT NOT NULL DEFAULT '[]';
ALTER TABLE templates ADD COLUMN health_interval_s INTEGER NOT NULL DEFAULT 0;
ALTER TABLE templates ADD COLUMN health_timeout_s INTEGER NOT NULL DEFAULT 0;
ALTER TABLE templates ADD COLUMN health_retries INTEGER NOT NULL DEFAULT 0;
ALTER TABLE templates ADD COLUMN health_start_period_s INTEGER NOT NULL DEFAULT 0;

ALTER TABLE services ADD COLUMN desired_state TEXT NOT NULL DEFAULT 'running';
ALTER TABLE services ADD COLUMN restart_policy TEXT NOT NULL DEFAULT '';
ALTER TABLE services ADD COLUMN health TEXT NOT NULL DEFAULT 'none';
ALTER TABLE services ADD COLUMN health_message TEXT NOT NULL DEFAULT '';
ALTER TABLE services ADD COLUMN supervisor TEXT NOT NULL DEFAULT 'ok';
ALTER TABLE services ADD COLUMN restarts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE services ADD COLUMN last_exit_code INTEGER NOT NULL DEFAULT 0;
ALTER TABLE services ADD COLUMN next_restart_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE services ADD COLUMN backoff_level INTEGER NOT NULL DEFAULT 0;
ALTER TABLE services ADD COLUMN window_started_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE services ADD COLUMN window_restarts INTEGER NOT NULL DEFAULT 0;

-- A service an operator stopped stays stopped.
UPDATE services SET desired_state = 'stopped' WHERE status = 'stopped';
