#!/usr/bin/env sh
# Start the Redis and PostgreSQL the tests talk to (127.0.0.1:6379 and :5432), if they are not
# answering already. A server that is not installed is installed first where this runs as root
# with apt-get (Debian's redis-server and postgresql, as .ci/run installs the Docker engine);
# elsewhere one line says what to install. MNISTGRID_TEST_POSTGRES_URL set: that server is the
# tests', and is neither installed nor started here.
#   sh scripts/start-services.sh
set -eu

can_install() { [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; }

install_packages() {  # install_packages PACKAGE...: apt-get, once the package list is fresh
    echo "installing $* with apt-get"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

need() {  # need COMMAND PACKAGE [OR]: install PACKAGE when COMMAND is missing, or say what to do
    command -v "$1" >/dev/null 2>&1 && return 0
    if can_install; then
        install_packages "$2"
        command -v "$1" >/dev/null 2>&1 && return 0
    fi
    echo "$1 is missing: install $2 (Debian: apt-get install $2)${3:-}" >&2
    exit 1
}

need redis-server redis-server
if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
    echo "starting redis-server on 127.0.0.1:6379"
    mkdir -p /var/lib/redis 2>/dev/null || true
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" \
        --appendonly no --dir "$( [ -w /var/lib/redis ] && echo /var/lib/redis || echo /tmp)"
fi

if [ -n "${MNISTGRID_TEST_POSTGRES_URL:-}" ]; then
    exit 0  # the tests' own server: theirs to run
fi
if ! command -v pg_ctlcluster >/dev/null 2>&1 && can_install; then
    install_packages postgresql
    # Installed here for the tests, which connect over TCP as postgres with no password: let
    # this new cluster trust loopback connections (its first lines win).
    for hba in /etc/postgresql/*/main/pg_hba.conf; do
        sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
    done
    echo "PostgreSQL installed; its cluster trusts connections from 127.0.0.1 (for the tests)"
fi
need pg_ctlcluster postgresql ", or set MNISTGRID_TEST_POSTGRES_URL to a server of yours"
if ! pg_isready -h 127.0.0.1 -p 5432 -q; then
    cluster=$(ls /etc/postgresql 2>/dev/null | head -n 1)
    if [ -z "$cluster" ]; then
        echo "PostgreSQL is installed but has no cluster: pg_createcluster --start VERSION main" >&2
        exit 1
    fi
    echo "starting PostgreSQL $cluster on 127.0.0.1:5432"
    pg_ctlcluster --skip-systemctl-redirect "$cluster" main start
fi
for _ in $(seq 30); do
    pg_isready -h 127.0.0.1 -p 5432 -q && exit 0
    sleep 1
done
echo "PostgreSQL did not answer on 127.0.0.1:5432 within 30 s" >&2
exit 1
