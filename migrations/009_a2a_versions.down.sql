ALTER TABLE activity_logs DROP COLUMN IF EXISTS protocol_version;
ALTER TABLE a2a_queue
    DROP COLUMN IF EXISTS forwarded_headers,
    DROP COLUMN IF EXISTS protocol_version;
