-- The one liveness predicate of a presented bearer (SPEC §4.1), as a SQL function so that every
-- statement that accepts a token uses the same definition: auth's own lookup, and the A2A proxy's
-- one statement before dispatch, which resolves its caller and loads its target together.
-- A workspace token is live when its hash matches, it is not revoked and its workspace is not
-- removed; an org token when its hash matches and it is not revoked. last_used_at is refreshed at
-- most once a minute, so that hot paths do not write on every request.
CREATE FUNCTION live_bearer(presented bytea)
RETURNS TABLE (kind text, token_id uuid, workspace_id uuid)
LANGUAGE sql VOLATILE AS $$
    WITH hit AS (
        SELECT t.id, t.workspace_id, t.last_used_at
        FROM workspace_auth_tokens t
        JOIN workspaces w ON w.id = t.workspace_id
        WHERE t.token_hash = presented AND t.revoked_at IS NULL AND w.status <> 'removed'
    ), touch AS (
        UPDATE workspace_auth_tokens
        SET last_used_at = now()
        WHERE id IN (
            SELECT id FROM hit
            WHERE last_used_at IS NULL OR last_used_at < now() - interval '60 seconds'
        )
    )
    SELECT 'workspace', id, workspace_id FROM hit
    UNION ALL
    SELECT 'org', o.id, NULL::uuid
    FROM org_api_tokens o
    WHERE o.token_hash = presented AND o.revoked_at IS NULL
$$;
