"""Delegations (SPEC §5.10): one workspace handing a task to another and tracking it to a result."""
