-- Memories (SPEC §5.11): agent memories, scoped and searchable, and key-value memory.

-- What an agent remembers. `content` is stored redacted (memories/redact.py) and never holds a
-- forged `[MEMORY ` delimiter (memories/delimiter.py). `content_tsv` is the full-text index of it,
-- kept by PostgreSQL itself. Search always starts from who may see what (a workspace's own, its
-- team's, every GLOBAL one: memories/store.py), hence the per-workspace and GLOBAL indexes.
CREATE TABLE agent_memories (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id  uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    scope         text NOT NULL CHECK (scope IN ('LOCAL', 'TEAM', 'GLOBAL')),
    namespace     text NOT NULL DEFAULT 'general' CHECK (char_length(namespace) BETWEEN 1 AND 50),
    content       text NOT NULL,
    content_tsv   tsvector GENERATED ALWAYS AS (to_tsvector('english', content)) STORED,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX agent_memories_workspace_idx ON agent_memories (workspace_id, scope, created_at DESC);
CREATE INDEX agent_memories_global_idx ON agent_memories (created_at DESC) WHERE scope = 'GLOBAL';
CREATE INDEX agent_memories_content_tsv_idx ON agent_memories USING gin (content_tsv);

-- Key-value state of a workspace: versioned for compare-and-swap; an expired value is invisible
-- and deleted by the activity retention sweep.
CREATE TABLE workspace_memory (
    workspace_id  uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    key           text NOT NULL,
    value         jsonb NOT NULL,
    version       bigint NOT NULL DEFAULT 1,
    expires_at    timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, key)
);
CREATE INDEX workspace_memory_expiry_idx ON workspace_memory (expires_at) WHERE expires_at IS NOT NULL;

-- Embeddings where the database has pgvector (the embedded PostgreSQL and Aurora/RDS ship it):
-- the extension is created if it can be, and the column added only when the extension is there.
-- Without it (not installed, or no privilege to create it) this is a no-op and search is full
-- text only. An extension created here is marked, so that 011's down removes only its own.
-- The column has no fixed dimension (MEMORY_EMBEDDING_DIMENSIONS is checked on write) and no ANN
-- index (search ranks the few memories a caller may see exactly: memories/store.py). STORAGE MAIN
-- keeps a vector in its row (out of line only if the row would not fit a page): ranking reads
-- every candidate's vector, and a TOAST fetch per candidate would double that work.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'vector') THEN
        BEGIN
            CREATE EXTENSION vector;
            COMMENT ON EXTENSION vector IS 'created by molecule migration 011_memories';
        EXCEPTION WHEN OTHERS THEN
            RAISE NOTICE 'pgvector unavailable (%): memories are searched by full text only', SQLERRM;
        END;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'vector') THEN
        BEGIN
            ALTER TABLE agent_memories ADD COLUMN embedding vector;
            ALTER TABLE agent_memories ALTER COLUMN embedding SET STORAGE MAIN;
        EXCEPTION WHEN OTHERS THEN  -- e.g. the extension lives in a schema not on the search_path
            RAISE NOTICE 'pgvector not usable (%): memories are searched by full text only', SQLERRM;
        END;
    END IF;
END
$$;
