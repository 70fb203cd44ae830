-- A2A protocol versions as data (SPEC §5.4 step 8): a queued message keeps the version its caller
-- spoke and the headers the drain must send again (A2A-Version, extensions); an inbox or activity
-- row records the version of the message it holds, so a poll-mode reader answers in kind.
ALTER TABLE a2a_queue
    ADD COLUMN protocol_version text CHECK (protocol_version IN ('0.3', '1.0')),
    ADD COLUMN forwarded_headers jsonb NOT NULL DEFAULT '{}'::jsonb;
ALTER TABLE activity_logs
    ADD COLUMN protocol_version text CHECK (protocol_version IN ('0.3', '1.0'));
