-- Files the platform stages in S3 for workspaces it cannot forward to (SPEC §5.13). The row is the
-- file's identity and its access rule's input (the owning workspace); the bytes live in the bucket
-- under object_key, which the platform derives from the id (never from a client).
CREATE TABLE staged_files (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id  uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 255),
    size          bigint NOT NULL CHECK (size >= 0),
    mime_type     text NOT NULL,
    sha256        text CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    object_key    text NOT NULL UNIQUE,
    -- NULL until the bytes are known to be in the bucket with the declared size: set at staging
    -- for chat uploads (the platform wrote them), at the first verified read for presigned PUTs.
    stored_at     timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    -- the bucket's lifecycle rule deletes the object some time after this; the row hides it at once
    expires_at    timestamptz NOT NULL
);
CREATE INDEX staged_files_workspace_idx ON staged_files (workspace_id, created_at);
CREATE INDEX staged_files_expires_idx ON staged_files (expires_at);
