"""The store's cheap schema check (db/schema_head.py) names the revision Alembic calls head: a
new migration that forgot it would have every store migrate or refuse, and this fails first."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from db.engine import make_engine
from db.migrate import head_revision, upgrade
from db.schema_head import HEAD, schema_is_current


def test_head_is_alembics_head():
    assert head_revision() == HEAD


def test_a_database_is_current_only_at_head(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'schema.db'}"
    engine = make_engine(url)
    try:
        assert not schema_is_current(engine)  # no alembic_version table at all
        upgrade(url, "0004")
        assert not schema_is_current(engine)
        upgrade(url)
        assert schema_is_current(engine)
        with engine.begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
        assert not schema_is_current(engine)
    finally:
        engine.dispose()
