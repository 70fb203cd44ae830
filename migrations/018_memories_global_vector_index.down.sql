DROP INDEX IF EXISTS agent_memories_global_embedding_idx;
