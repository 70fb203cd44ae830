-- Workspaces: one row per agent runtime, its status and the registry data agents report.

CREATE TYPE workspace_status AS ENUM (
    'provisioning',
    'online',
    'offline',
    'degraded',
    'failed',
    'removed',
    'paused',
    'hibernated'
);

CREATE TABLE workspaces (
    id                        uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name                      text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 255),
    role                      text,
    tier                      integer NOT NULL DEFAULT 3 CHECK (tier BETWEEN 1 AND 4),
    status                    workspace_status NOT NULL DEFAULT 'provisioning',
    runtime                   text NOT NULL,
    external                  boolean NOT NULL DEFAULT false,
    url                       text,
    agent_card                jsonb,
    delivery_mode             text CHECK (delivery_mode IN ('push', 'poll')),
    parent_id                 uuid REFERENCES workspaces (id) ON DELETE CASCADE,
    last_heartbeat_at         timestamptz,
    last_error_rate           double precision NOT NULL DEFAULT 0,
    last_sample_error         text,
    active_tasks              integer NOT NULL DEFAULT 0 CHECK (active_tasks >= 0),
    max_concurrent_tasks      integer NOT NULL DEFAULT 1 CHECK (max_concurrent_tasks >= 1),
    uptime_seconds            bigint NOT NULL DEFAULT 0,
    current_task              text,
    monthly_spend             bigint NOT NULL DEFAULT 0,
    budget_limit              bigint CHECK (budget_limit >= 0),
    hibernation_idle_minutes  integer CHECK (hibernation_idle_minutes >= 1),
    instance_id               text,
    platform_inbound_secret   text,
    x                         double precision NOT NULL DEFAULT 0,
    y                         double precision NOT NULL DEFAULT 0,
    collapsed                 boolean NOT NULL DEFAULT false,
    -- lifecycle bookkeeping
    -- restart coalescing (state lives here, never in process memory): a pending request, and the
    -- lease of the restart in flight (at most one per workspace)
    restart_requested_at      timestamptz,
    restart_claimed_at        timestamptz,
    last_active_at            timestamptz,
    paused_at                 timestamptz,
    removed_at                timestamptz,
    -- when `status` last changed (maintained by the trigger below, not by each statement)
    status_changed_at         timestamptz NOT NULL DEFAULT now(),
    created_at                timestamptz NOT NULL DEFAULT now(),
    updated_at                timestamptz NOT NULL DEFAULT now(),
    CHECK (parent_id IS NULL OR parent_id <> id)
)
-- Heartbeats rewrite a row every few seconds per agent. Leaving room on each page and indexing no
-- column a steady heartbeat changes (last_heartbeat_at is deliberately not indexed) keeps those
-- updates HOT: no new index entries, no index bloat. The liveness sweep reads the table instead,
-- once a minute, in one statement.
WITH (fillfactor = 80);

CREATE INDEX workspaces_parent_idx ON workspaces (parent_id);
CREATE INDEX workspaces_created_idx ON workspaces (created_at, id) WHERE status <> 'removed';
CREATE INDEX workspaces_provisioning_idx ON workspaces (status_changed_at) WHERE status = 'provisioning';

-- One place keeps status_changed_at true, whichever statement changes the status.
CREATE FUNCTION workspaces_touch_status_changed_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.status_changed_at := now();
    RETURN NEW;
END $$;

CREATE TRIGGER workspaces_status_changed
    BEFORE UPDATE OF status ON workspaces
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION workspaces_touch_status_changed_at();
