"""A2A: the proxy flow, the normaliser, the dead-status classifier, and the queue."""
