"""Alembic environment and revisions; run them through `db.migrate`, not the alembic command."""
