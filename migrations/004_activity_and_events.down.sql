DROP TABLE IF EXISTS structure_events;
DROP TABLE IF EXISTS activity_logs;
