-- Poll-mode inbox rows keep the A2A request exactly as the sender wrote it in `request_body`
-- (clients written for the original server decode it, e.g. parts with `type`), and the platform's
-- normalised form beside it in `request_normalized` (SPEC §5.6). This replaces `request_raw`
-- (text), which held the verbatim body only when normalisation had changed it.
ALTER TABLE activity_logs ADD COLUMN request_normalized jsonb;

-- Rows written before: request_body held the normalised form, request_raw the body as received.
-- A verbatim body that jsonb cannot hold (e.g. a \u0000 escape) leaves its row as it was.
DO $$
DECLARE
    raw_row record;
BEGIN
    FOR raw_row IN SELECT id, request_raw FROM activity_logs WHERE request_raw IS NOT NULL LOOP
        BEGIN
            UPDATE activity_logs
            SET request_normalized = request_body, request_body = raw_row.request_raw::jsonb
            WHERE id = raw_row.id;
        EXCEPTION WHEN others THEN
            NULL;
        END;
    END LOOP;
END
$$;

ALTER TABLE activity_logs DROP COLUMN request_raw;
