DROP TABLE IF EXISTS workspace_memory;
DROP TABLE IF EXISTS agent_memories;
-- pgvector goes only if 011 created it, and only if nothing else uses it by now.
DO $$
BEGIN
    IF EXISTS (
        SELECT 1 FROM pg_extension
        WHERE extname = 'vector' AND obj_description(oid, 'pg_extension') = 'created by molecule migration 011_memories'
    ) THEN
        BEGIN
            DROP EXTENSION vector;
        EXCEPTION WHEN dependent_objects_still_exist THEN
            RAISE NOTICE 'pgvector kept: other objects use it';
        END;
    END IF;
END
$$;
