"""The structural event log."""
