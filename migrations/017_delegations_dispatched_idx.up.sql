-- The outbox sweep fails every delegation whose A2A queue message ended undelivered (expired,
-- dropped, failed) while the delegation still says `dispatched`: it finds them through this index,
-- which holds only the open ones.
CREATE INDEX delegations_dispatched_queue_idx ON delegations (queue_id) WHERE status = 'dispatched';
