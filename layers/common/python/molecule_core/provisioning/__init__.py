"""The one provision pipeline and its backends (process, controlplane, ecs)."""
