DROP TABLE IF EXISTS org_api_tokens;
DROP TABLE IF EXISTS workspace_auth_tokens;
