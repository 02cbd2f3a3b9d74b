"""The read-only role: a PostgreSQL login that may SELECT the schema's tables and nothing else,
for readers that must not write, such as `mnistgrid serve` in the compose stack.

    MNISTGRID_READONLY_DATABASE_URL=postgresql+psycopg://mnistgrid_readonly:PASS@host/db \
        mnistgrid db upgrade

`grant_readonly` runs as the schema's owner (the role `mnistgrid db upgrade` connects as) after
every upgrade: it creates the role or sets its password again, takes back anything else it was
granted, grants SELECT on every table, present and future, and then checks that the role can
write nothing. The password reaches the server only as a SCRAM verifier made here, so it never
stands in a statement (server logs, pg_stat_activity).
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg import sql
from sqlalchemy import Connection, Engine, exc, text
from sqlalchemy.engine import URL, make_url

from db.engine import safe_url
from db.errors import first_line
from db.migrate import locked_transaction
from mnistgrid.errors import BadInput, MnistgridError

# What a read-only role must hold on no table, and the role attributes that would let it write.
WRITE_PRIVILEGES = "INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER"
POWERS = ("rolsuper", "rolcreaterole", "rolcreatedb", "rolreplication", "rolbypassrls")


class RoleNotGranted(MnistgridError):
    """The database refused to create or grant the role (its owner lacks CREATEROLE, say)."""


@dataclass(frozen=True)
class ReadonlyRole:
    name: str
    schema: str
    tables: int  # tables it may SELECT now; later ones follow by default privileges


def grant_readonly(owner: str | URL | Engine, readonly_url: str | URL) -> ReadonlyRole:
    """Create or refresh the role of `readonly_url` (its user and password) on the database
    of `owner`, with SELECT on every table of the owner's schema and no other privilege."""
    reader = make_url(readonly_url)
    owner_url = owner.url if isinstance(owner, Engine) else make_url(owner)
    check_urls(owner_url, reader)
    try:
        with locked_transaction(owner) as connection:
            return _grant(connection, reader)
    except (exc.ProgrammingError, psycopg.ProgrammingError) as error:
        why = first_line(error) if isinstance(error, exc.DBAPIError) else str(error)
        raise RoleNotGranted(
            f"cannot make the read-only role {reader.username} on {safe_url(owner_url)}: "
            f"{why.strip().splitlines()[0]}"
        ) from error


def check_urls(owner: URL, reader: URL) -> None:
    where = "MNISTGRID_READONLY_DATABASE_URL"
    if owner.get_backend_name() != "postgresql" or reader.get_backend_name() != "postgresql":
        raise BadInput(f"{where}: a read-only role needs PostgreSQL for both URLs")
    if not reader.username:
        raise BadInput(f"{where}: names no user ({safe_url(reader)})")
    if reader.username == owner.username:
        raise BadInput(f"{where}: names the owner {owner.username}, not a read-only role")
    if reader.database != owner.database:
        raise BadInput(
            f"{where}: names database {reader.database}, but the schema is in {owner.database}"
        )


def _grant(connection: Connection, reader: URL) -> ReadonlyRole:
    role = sql.Identifier(reader.username)
    database = sql.Identifier(connection.scalar(text("SELECT current_database()")))
    schema_name = connection.scalar(text("SELECT current_schema()"))
    schema = sql.Identifier(schema_name)
    exists = connection.scalar(
        text("SELECT count(*) FROM pg_roles WHERE rolname = :name"), {"name": reader.username}
    )
    # Only LOGIN and the password: every other attribute keeps its default on a new role, and
    # is checked below on an old one (changing it may need a superuser).
    verb = sql.SQL("ALTER ROLE" if exists else "CREATE ROLE")
    password = sql.SQL("")
    if reader.password is not None:
        password = sql.SQL(" PASSWORD {}").format(sql.Literal(verifier(connection, reader)))
    statements = [
        sql.SQL("{} {} LOGIN{}").format(verb, role, password),
        # Taken back first, so that a role someone granted more to is read-only again.
        sql.SQL("REVOKE ALL ON ALL TABLES IN SCHEMA {} FROM {}").format(schema, role),
        sql.SQL("REVOKE ALL ON ALL SEQUENCES IN SCHEMA {} FROM {}").format(schema, role),
        sql.SQL("REVOKE ALL ON SCHEMA {} FROM {}").format(schema, role),
        sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(database, role),
        sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(schema, role),
        sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA {} TO {}").format(schema, role),
        # Tables a later migration makes (as this owner) are readable from their creation.
        sql.SQL("ALTER DEFAULT PRIVILEGES IN SCHEMA {} REVOKE ALL ON TABLES FROM {}").format(
            schema, role
        ),
        sql.SQL("ALTER DEFAULT PRIVILEGES IN SCHEMA {} GRANT SELECT ON TABLES TO {}").format(
            schema, role
        ),
        # A second guard: its transactions start read-only (it could switch that off; the
        # privileges above are the wall).
        sql.SQL("ALTER ROLE {} IN DATABASE {} SET default_transaction_read_only = on").format(
            role, database
        ),
    ]
    raw = connection.connection.dbapi_connection  # psycopg's, inside this same transaction
    for statement in statements:
        raw.execute(statement)
    refuse_writers(connection, reader.username, schema_name)
    tables = connection.scalar(
        text("SELECT count(*) FROM pg_tables WHERE schemaname = :schema"), {"schema": schema_name}
    )
    return ReadonlyRole(reader.username, schema_name, tables)


def verifier(connection: Connection, reader: URL) -> str:
    """The password as the server stores it (SCRAM, or whatever password_encryption says),
    computed by libpq on this side, as psql's \\password does."""
    raw = connection.connection.dbapi_connection
    encrypted = raw.pgconn.encrypt_password(
        reader.password.encode(), reader.username.encode(), None
    )
    return encrypted.decode()


def refuse_writers(connection: Connection, role: str, schema: str) -> None:
    """Raise unless `role` can write nothing in `schema`: powers of its own, a role it belongs
    to, PUBLIC's grants (CREATE on the schema before PostgreSQL 15) all count."""
    powers = connection.execute(
        text(f"SELECT {', '.join(POWERS)} FROM pg_roles WHERE rolname = :role"), {"role": role}
    ).one()
    held = [name[3:].upper() for name, on in zip(POWERS, powers, strict=True) if on]
    if held:
        raise BadInput(f"role {role} is not read-only: it has {', '.join(held)}")
    if connection.scalar(text("SELECT pg_has_role(:role, current_user, 'USAGE')"), {"role": role}):
        raise BadInput(f"role {role} is not read-only: it has the owner's privileges")
    if connection.scalar(
        text("SELECT has_schema_privilege(:role, :schema, 'CREATE')"),
        {"role": role, "schema": schema},
    ):
        raise BadInput(
            f"role {role} may create tables in schema {schema}: revoke CREATE on it from PUBLIC "
            f'(REVOKE CREATE ON SCHEMA "{schema}" FROM PUBLIC), the default since PostgreSQL 15'
        )
    writable = connection.scalars(
        text(
            "SELECT tablename FROM pg_tables WHERE schemaname = :schema"
            " AND has_table_privilege(:role, format('%I.%I', schemaname, tablename), :privileges)"
            " ORDER BY tablename"
        ),
        {"role": role, "schema": schema, "privileges": WRITE_PRIVILEGES},
    ).all()
    if writable:
        raise BadInput(f"role {role} may still write to {', '.join(writable)} (PUBLIC's grants?)")
