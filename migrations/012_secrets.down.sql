DROP TABLE IF EXISTS global_secrets;
DROP TABLE IF EXISTS workspace_secrets;
DROP TABLE IF EXISTS secret_data_keys;
