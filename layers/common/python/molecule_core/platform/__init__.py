"""The plumbing under every domain: connections, settings, errors and their one HTTP mapping,
logging, AWS clients, migrations. Imports no domain."""
