DROP FUNCTION IF EXISTS live_bearer(bytea);
