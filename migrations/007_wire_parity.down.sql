-- Back to request_body = the normalised form, request_raw = the verbatim body when it differed.
ALTER TABLE activity_logs ADD COLUMN request_raw text;

UPDATE activity_logs
SET request_raw = CASE WHEN request_body IS DISTINCT FROM request_normalized THEN request_body::text END,
    request_body = request_normalized
WHERE request_normalized IS NOT NULL;

ALTER TABLE activity_logs DROP COLUMN request_normalized;
