-- The ancestor chains the access rule decides from (SPEC §4.1), as one SQL function so that every
-- statement that needs them (discovery, check-access, the A2A proxy's one round trip before
-- dispatch, team-scoped memory search) shares one definition instead of copying a recursive CTE.
-- Result: {"<id>": [{"id","parent_id","status"}, … nearest first], …} for the ids that exist.
CREATE FUNCTION workspace_lineages(ids uuid[]) RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    WITH RECURSIVE chain AS (
        SELECT id AS origin, id, parent_id, status, 0 AS depth
        FROM workspaces WHERE id = ANY(ids)
        UNION ALL
        SELECT chain.origin, w.id, w.parent_id, w.status, chain.depth + 1
        FROM workspaces w JOIN chain ON w.id = chain.parent_id
        WHERE chain.depth < 64
    )
    SELECT coalesce(jsonb_object_agg(origin, members), '{}'::jsonb)
    FROM (
        SELECT origin,
               jsonb_agg(jsonb_build_object('id', id, 'parent_id', parent_id, 'status', status)
                         ORDER BY depth) AS members
        FROM chain GROUP BY origin
    ) grouped
$$;
