#!/bin/bash
# As the official postgres image's entrypoint: on the first start into an empty $PGDATA, initdb
# with POSTGRES_USER / POSTGRES_PASSWORD and create POSTGRES_DB; the local socket is trusted,
# TCP from anywhere asks scram-sha-256. Then postgres runs in the foreground as user postgres.
set -e
export PGDATA=${PGDATA:-/var/lib/postgresql/data}
as_postgres() { setpriv --reuid=postgres --regid=postgres --init-groups "$@"; }

initialise() {
    : "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD must be set}"
    local user=${POSTGRES_USER:-postgres}
    local db=${POSTGRES_DB:-$user}
    local pwfile
    pwfile=$(mktemp)
    printf '%s\n' "$POSTGRES_PASSWORD" > "$pwfile"
    chown postgres "$pwfile"
    as_postgres initdb -D "$PGDATA" --username="$user" --pwfile="$pwfile" \
        --auth-local=trust --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8
    rm -f "$pwfile"
    echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
    echo "listen_addresses = '*'" >> "$PGDATA/postgresql.conf"
    if [ "$db" != postgres ]; then
        echo "CREATE DATABASE \"$db\";" | as_postgres postgres --single -D "$PGDATA" postgres >/dev/null
    fi
    echo "stand-in entrypoint: initialised $PGDATA (user $user, database $db)"
}

if [ "$1" = postgres ] && [ "$(id -u)" = 0 ]; then
    mkdir -p "$PGDATA" /run/postgresql
    chown postgres:postgres "$PGDATA" /run/postgresql
    chmod 700 "$PGDATA"
    [ -s "$PGDATA/PG_VERSION" ] || initialise
    exec setpriv --reuid=postgres --regid=postgres --init-groups "$@"
fi
exec "$@"
