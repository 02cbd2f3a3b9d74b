"""All SQL lives here: the store (`db.store.Store`) is the one door to the database.

models: the tables; records: the frozen values callers get; engine: connections per backend;
migrate: Alembic, in code; docs/database.md, describes the schema for users who query it.
"""
