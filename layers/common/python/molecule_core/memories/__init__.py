"""Agent memories (scoped, searchable) and key-value memory."""
