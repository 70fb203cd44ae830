-- The one liveness predicate of a presented bearer (SPEC §4.1), as a SQL function so that every
-- statement that accepts a token uses the same definition: auth's own lookup, and the A2A proxy's
-- one statement before dispatch, which resolves its caller and loads its target together.
-- A workspace token is live when its hash matches, it is not revoked and its workspace is not
-- removed; an org token when its hash matches and it is not revoked. last_used_at is refreshed at
-- most once a minute, so that hot paths do not write on every request.
-- PL/pgSQL, not SQL: a SQL function that cannot be inlined (this one writes) is planned on every
-- call (~0.35 ms here); PL/pgSQL keeps its statement's plan for the session. Statements are not
-- prepared by the client (RDS Proxy), so this is where a hot path's plan is cached.
CREATE FUNCTION live_bearer(presented bytea)
RETURNS TABLE (kind text, token_id uuid, workspace_id uuid)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    RETURN QUERY
    WITH hit AS (
        SELECT t.id, t.workspace_id, t.last_used_at
        FROM workspace_auth_tokens t
        JOIN workspaces w ON w.id = t.workspace_id
        WHERE t.token_hash = presented AND t.revoked_at IS NULL AND w.status <> 'removed'
    ), touch AS (
        UPDATE workspace_auth_tokens u
        SET last_used_at = now()
        WHERE u.id IN (
            SELECT hit.id FROM hit
            WHERE hit.last_used_at IS NULL OR hit.last_used_at < now() - interval '60 seconds'
        )
    )
    SELECT 'workspace'::text, hit.id, hit.workspace_id FROM hit
    UNION ALL
    SELECT 'org'::text, o.id, NULL::uuid
    FROM org_api_tokens o
    WHERE o.token_hash = presented AND o.revoked_at IS NULL;
END
$$;
