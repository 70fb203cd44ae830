DROP INDEX IF EXISTS a2a_queue_recent_idx;
