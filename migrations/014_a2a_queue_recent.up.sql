-- The operator's view of the queue (GET /admin/a2a-queue: every target's rows, newest first, one
-- page) reads this index instead of sorting the whole table; rows of one target keep using
-- a2a_queue_target_idx.
CREATE INDEX a2a_queue_recent_idx ON a2a_queue (enqueued_at DESC, id DESC);
