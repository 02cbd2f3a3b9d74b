#!/usr/bin/env sh
# A throwaway PostgreSQL cluster for the tests, so that the fault tests restart it instead of
# this machine's own (Debian's postgresql-common; run as root). Prints the two settings that
# point the tests at it; `drop` removes it.
#   sh scripts/test-postgres.sh          # make and start it (port 5433), print the settings
#   sh scripts/test-postgres.sh drop     # stop and remove it
set -eu
NAME=mnistgrid-test
PORT=${PORT:-5433}
VERSION=$(ls /etc/postgresql | sort | tail -n 1)

if [ "${1:-}" = drop ]; then
    pg_dropcluster --stop "$VERSION" "$NAME"
    exit 0
fi
if ! pg_lsclusters -h | awk '{print $1 "/" $2}' | grep -qx "$VERSION/$NAME"; then
    # Loopback connections trusted: the tests connect as postgres with no password.
    pg_createcluster "$VERSION" "$NAME" --port "$PORT" -- --auth-host=trust --auth-local=trust \
        >/dev/null
fi
pg_ctlcluster --skip-systemctl-redirect "$VERSION" "$NAME" start >&2 2>/dev/null || true
PORT=$(pg_lsclusters -h | awk -v v="$VERSION" -v n="$NAME" '$1 == v && $2 == n {print $3}')
echo "export MNISTGRID_TEST_POSTGRES_URL=postgresql://postgres@127.0.0.1:$PORT/postgres"
echo "export MNISTGRID_TEST_POSTGRES_CLUSTER=$VERSION/$NAME"
