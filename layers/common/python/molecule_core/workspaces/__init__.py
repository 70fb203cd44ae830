"""Workspaces: create, list, get, state, patch, delete; connection snippets."""
