-- Bearer tokens. Only the sha256 of a token is stored; the plaintext is shown once at mint time.
CREATE TABLE workspace_auth_tokens (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id  uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    token_hash    bytea NOT NULL UNIQUE CHECK (octet_length(token_hash) = 32),
    prefix        text NOT NULL,
    -- who minted it: create (external connection block), register (first boot), provision,
    -- api (POST /workspaces/{id}/tokens), test (admin test-token)
    origin        text NOT NULL DEFAULT 'api'
                  CHECK (origin IN ('create', 'register', 'provision', 'api', 'test')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_used_at  timestamptz,
    revoked_at    timestamptz
);
-- Register mints at most one live token per workspace, even when two first registers race
-- (its INSERT … ON CONFLICT DO NOTHING relies on this index).
CREATE UNIQUE INDEX workspace_auth_tokens_one_register_mint ON workspace_auth_tokens (workspace_id)
    WHERE origin = 'register' AND revoked_at IS NULL;
CREATE INDEX workspace_auth_tokens_live_idx ON workspace_auth_tokens (workspace_id)
    WHERE revoked_at IS NULL;

CREATE TABLE org_api_tokens (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    token_hash    bytea NOT NULL UNIQUE CHECK (octet_length(token_hash) = 32),
    prefix        text NOT NULL,
    name          text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 255),
    created_by    text,
    org_id        text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_used_at  timestamptz,
    revoked_at    timestamptz
);
CREATE INDEX org_api_tokens_live_idx ON org_api_tokens (created_at) WHERE revoked_at IS NULL;
