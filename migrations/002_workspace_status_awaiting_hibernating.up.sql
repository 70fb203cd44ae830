-- Statuses added after the first schema (the history's migration 046: application code wrote them
-- for days before the enum knew them). ADD VALUE takes no heavy lock and is idempotent here.
ALTER TYPE workspace_status ADD VALUE IF NOT EXISTS 'awaiting_agent';
ALTER TYPE workspace_status ADD VALUE IF NOT EXISTS 'hibernating';
