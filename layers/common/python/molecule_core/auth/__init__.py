"""Credentials (mint, hash, the one liveness predicate) and who is calling (SPEC §4.1)."""
