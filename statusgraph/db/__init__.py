"""Persistence: engine and sessions, table models, tenant scoping, migrations."""
