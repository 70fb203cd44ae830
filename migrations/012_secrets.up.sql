-- Secrets, encrypted at rest (SPEC §5.12). Values are AES-256-GCM ciphertexts under a data key;
-- the data keys are stored here only wrapped by the key source (a KMS key in AWS, the local key
-- file in .molecule/ on a laptop), so a copy of the database alone decrypts nothing.

-- One row per data key. `key_id` is stored beside every value it encrypted; the newest key wrapped
-- by the configured key source encrypts new writes, older ones keep decrypting (rotation).
CREATE TABLE secret_data_keys (
    key_id       text PRIMARY KEY CHECK (key_id ~ '^dk-[0-9a-f]{32}$'),
    wrapped_key  bytea NOT NULL,
    -- which key source wrapped it: 'kms:<key arn or id>' or 'local:<fingerprint of the key file>'
    wrapped_by   text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX secret_data_keys_active_idx ON secret_data_keys (wrapped_by, created_at DESC);

CREATE TABLE workspace_secrets (
    workspace_id  uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    key           text NOT NULL CHECK (key ~ '^[A-Za-z_][A-Za-z0-9_]{0,127}$'),
    ciphertext    bytea NOT NULL,  -- AES-256-GCM output: encrypted value followed by the 16-byte tag
    nonce         bytea NOT NULL CHECK (octet_length(nonce) = 12),
    key_id        text NOT NULL REFERENCES secret_data_keys (key_id),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, key)
);
-- A global change restarts the workspaces WITHOUT their own value of that key.
CREATE INDEX workspace_secrets_key_idx ON workspace_secrets (key);
CREATE INDEX workspace_secrets_key_id_idx ON workspace_secrets (key_id);

CREATE TABLE global_secrets (
    key         text PRIMARY KEY CHECK (key ~ '^[A-Za-z_][A-Za-z0-9_]{0,127}$'),
    ciphertext  bytea NOT NULL,
    nonce       bytea NOT NULL CHECK (octet_length(nonce) = 12),
    key_id      text NOT NULL REFERENCES secret_data_keys (key_id),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX global_secrets_key_id_idx ON global_secrets (key_id);
