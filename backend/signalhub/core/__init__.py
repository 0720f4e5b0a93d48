"""Cross-cutting infrastructure: settings, database, security, errors, time."""
