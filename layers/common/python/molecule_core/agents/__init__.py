"""HTTP to agents: the only place the platform calls one."""
