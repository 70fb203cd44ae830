DROP TABLE IF EXISTS workspaces;
DROP FUNCTION IF EXISTS workspaces_touch_status_changed_at();
DROP TYPE IF EXISTS workspace_status;
