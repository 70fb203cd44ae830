DROP INDEX IF EXISTS delegations_dispatched_queue_idx;
