-- An approximate nearest-neighbour index (pgvector HNSW, cosine) over GLOBAL memories' embeddings.
--
-- Every search ranks the memories its caller may see. Own, LOCAL and TEAM memories are found by
-- index (a workspace's or a team's are tens to hundreds of rows) and ranked exactly. GLOBAL is
-- every root's GLOBAL memory, the same set for everyone and growing with the fleet: ranking it
-- exactly reads one 8 KB page per memory (a 1 536-float vector fills most of one), so a GLOBAL
-- vector search walks this graph instead (memories/store.py says when; exact stays the answer for
-- a filtered or longer search). pgvector indexes one dimension, so the index covers vectors of the
-- default MEMORY_EMBEDDING_DIMENSIONS (1536); store.py reads the dimension from the catalog, and a
-- deployment of another dimension searches GLOBAL exactly until it creates the same index for its
-- own (the README's "Memories" section shows how).
--
-- m = 8 links per node, not pgvector's default 16 (sized for millions of rows): GLOBAL memories
-- number thousands, where 8 finds the same ten as exact ranking for a query about a subject
-- (bench/memories.py: recall 1.0) and reads about a fifth fewer pages per search.
--
-- A no-op where the `embedding` column is absent (no pgvector: migration 011) or pgvector is too
-- old for HNSW (before 0.5.0).
DO $$
BEGIN
    IF EXISTS (
        SELECT 1 FROM pg_attribute
        WHERE attrelid = 'agent_memories'::regclass AND attname = 'embedding' AND NOT attisdropped
    ) AND EXISTS (SELECT 1 FROM pg_am WHERE amname = 'hnsw') THEN
        CREATE INDEX agent_memories_global_embedding_idx ON agent_memories
            USING hnsw ((embedding::vector(1536)) vector_cosine_ops) WITH (m = 8)
            WHERE scope = 'GLOBAL' AND vector_dims(embedding) = 1536;
    ELSE
        RAISE NOTICE 'no HNSW index for GLOBAL memories (no pgvector, or one without hnsw): GLOBAL is ranked exactly';
    END IF;
END
$$;
