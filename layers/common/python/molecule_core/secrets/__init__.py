"""Secrets: encrypted workspace and global secrets, delivered to the agents that need them."""
