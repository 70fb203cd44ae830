"""Chat files: uploads and downloads forwarded to the agent."""
