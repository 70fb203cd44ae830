DROP TABLE IF EXISTS workspaces;
DROP TYPE IF EXISTS workspace_status;
