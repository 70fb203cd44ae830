-- PostgreSQL has no DROP VALUE: move rows to the nearest older status, then rebuild the type.
UPDATE workspaces SET status = 'offline' WHERE status = 'awaiting_agent';
UPDATE workspaces SET status = 'hibernated' WHERE status = 'hibernating';

DROP INDEX IF EXISTS workspaces_created_idx;
DROP INDEX IF EXISTS workspaces_provisioning_idx;
DROP TRIGGER workspaces_status_changed ON workspaces;  -- it depends on the column's type
ALTER TABLE workspaces ALTER COLUMN status DROP DEFAULT;
ALTER TYPE workspace_status RENAME TO workspace_status_old;
CREATE TYPE workspace_status AS ENUM (
    'provisioning',
    'online',
    'offline',
    'degraded',
    'failed',
    'removed',
    'paused',
    'hibernated'
);
ALTER TABLE workspaces
    ALTER COLUMN status TYPE workspace_status USING status::text::workspace_status;
ALTER TABLE workspaces ALTER COLUMN status SET DEFAULT 'provisioning';
DROP TYPE workspace_status_old;
CREATE INDEX workspaces_created_idx ON workspaces (created_at, id) WHERE status <> 'removed';
CREATE INDEX workspaces_provisioning_idx ON workspaces (status_changed_at) WHERE status = 'provisioning';
CREATE TRIGGER workspaces_status_changed
    BEFORE UPDATE OF status ON workspaces
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION workspaces_touch_status_changed_at();
