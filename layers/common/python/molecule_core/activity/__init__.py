"""The activity log: feed, inbox cursor, self-reports, notify, retention."""
