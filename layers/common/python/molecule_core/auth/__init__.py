"""Credentials: token minting and hashing (tokens.py) and the route guards (guards.py)."""
