-- Back to the SQL version of migrations/006.
CREATE OR REPLACE FUNCTION workspace_lineages(ids uuid[]) RETURNS jsonb
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
