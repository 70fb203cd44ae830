"""Lifecycle: restart, pause/resume, hibernate, expand, lifecycle jobs and the sweeps."""
