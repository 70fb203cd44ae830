-- Delegations (SPEC §5.10): one workspace (the delegator, `source_id`) handing a task to another
-- (`target_id`) and tracking it to a result. The task itself travels as an A2A message (the A2A
-- queue for push targets, the inbox for poll targets); this row is what the delegator and its
-- clients read: the status, and the result text once there is one.
--
-- `delegation_id` is what clients name a delegation by: the row id for delegations the platform
-- dispatched (POST /delegate), the agent's own id for ones it dispatched itself and recorded
-- (POST /delegations/record) — any string, unique per delegator. It is also the A2A message's
-- messageId and `metadata.delegation_id`, which is how the drain's answer and a poll target's
-- later reply find their way back here.
CREATE TABLE delegations (
    id               uuid PRIMARY KEY,
    delegation_id    text NOT NULL CHECK (char_length(delegation_id) BETWEEN 1 AND 255),
    source_id        uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    -- no foreign key: a delegator keeps its history when the target is purged
    target_id        uuid NOT NULL,
    task             text NOT NULL,
    status           text NOT NULL CHECK (status IN ('pending', 'dispatched', 'queued', 'completed', 'failed')),
    -- platform: made by POST /delegate and dispatched by the platform; agent: recorded by the agent
    origin           text NOT NULL CHECK (origin IN ('platform', 'agent')),
    idempotency_key  text,
    queue_id         uuid,
    result           text,
    error            text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    dispatched_at    timestamptz,
    finished_at      timestamptz
);
CREATE UNIQUE INDEX delegations_delegation_id_idx ON delegations (source_id, delegation_id);
-- One live delegation per (delegator, idempotency key): a repeated key answers it, and a failed
-- one leaves the index, so a retry with the same key replaces it while the failure stays on record.
CREATE UNIQUE INDEX delegations_idempotency_idx ON delegations (source_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL AND status <> 'failed';
-- The delegator's list, newest first (optionally one status).
CREATE INDEX delegations_recent_idx ON delegations (source_id, created_at DESC, id DESC);
