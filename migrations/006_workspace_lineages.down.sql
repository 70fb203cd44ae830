DROP FUNCTION IF EXISTS workspace_lineages(uuid[]);
