-- Activity log (per workspace, read by UIs and polling agents) and structural event log.
-- Cursor order is (xid, seq): `xid` is the writing transaction's id. A reader only returns rows
-- whose transaction is older than the oldest transaction still running (pg_snapshot_xmin), so a
-- row that commits late can never appear behind a cursor that has already moved past it: a
-- since_id poller neither misses nor repeats a row under concurrent writers (`seq` alone is
-- assigned at insert, not at commit, and would lose rows).
CREATE TABLE activity_logs (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    seq              bigint GENERATED ALWAYS AS IDENTITY,
    xid              xid8 NOT NULL DEFAULT pg_current_xact_id(),
    workspace_id     uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    activity_type    text NOT NULL CHECK (activity_type IN (
                         'a2a_send', 'a2a_receive', 'task_update', 'agent_log',
                         'skill_promotion', 'memory_write', 'error', 'delegation')),
    source_id        uuid,
    target_id        uuid,
    method           text,
    summary          text,
    request_body     jsonb,
    -- the request exactly as received, when the platform rewrote it (poll-mode A2A)
    request_raw      text,
    response_body    jsonb,
    tool_trace       jsonb,
    duration_ms      integer,
    status           text,
    error_detail     text,
    idempotency_key  text,
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX activity_logs_cursor_idx ON activity_logs (workspace_id, xid, seq);
CREATE INDEX activity_logs_recent_idx ON activity_logs (workspace_id, created_at DESC);
CREATE INDEX activity_logs_retention_idx ON activity_logs (created_at);

CREATE TABLE structure_events (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    seq           bigint GENERATED ALWAYS AS IDENTITY,
    xid           xid8 NOT NULL DEFAULT pg_current_xact_id(),
    event_type    text NOT NULL,
    -- no foreign key: the history of a removed or purged workspace outlives its row
    workspace_id  uuid,
    payload       jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX structure_events_cursor_idx ON structure_events (xid, seq);
CREATE INDEX structure_events_workspace_idx ON structure_events (workspace_id, xid, seq);
