-- Outbox for A2A messages that wait for a busy or long-running target (SQS FIFO carries them).
CREATE TABLE a2a_queue (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id     uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    caller_id        uuid,
    priority         integer NOT NULL DEFAULT 0,
    body             jsonb NOT NULL,
    method           text,
    idempotency_key  text,
    status           text NOT NULL DEFAULT 'queued' CHECK (status IN (
                         'queued', 'dispatched', 'completed', 'failed', 'expired', 'dropped')),
    attempts         integer NOT NULL DEFAULT 0,
    last_error       text,
    response_status  integer,
    response_body    jsonb,
    enqueued_at      timestamptz NOT NULL DEFAULT now(),
    published_at     timestamptz,
    dispatched_at    timestamptz,
    completed_at     timestamptz,
    expires_at       timestamptz
);
-- at most one active row per (target, idempotency key)
CREATE UNIQUE INDEX a2a_queue_idempotency_idx ON a2a_queue (workspace_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL AND status IN ('queued', 'dispatched');
CREATE INDEX a2a_queue_unpublished_idx ON a2a_queue (enqueued_at)
    WHERE status = 'queued' AND published_at IS NULL;
CREATE INDEX a2a_queue_target_idx ON a2a_queue (workspace_id, enqueued_at);
