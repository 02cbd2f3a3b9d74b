#!/usr/bin/env sh
# Start the Redis and PostgreSQL the tests talk to (127.0.0.1:6379 and :5432), if they are not
# answering already. For a Debian machine with redis-server and PostgreSQL installed, as CI's.
#   sh scripts/start-services.sh
set -eu

if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
    echo "starting redis-server on 127.0.0.1:6379"
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" \
        --appendonly no --dir /var/lib/redis
fi
if ! pg_isready -h 127.0.0.1 -p 5432 -q; then
    echo "starting PostgreSQL on 127.0.0.1:5432"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start
fi
for _ in $(seq 30); do
    pg_isready -h 127.0.0.1 -p 5432 -q && exit 0
    sleep 1
done
echo "PostgreSQL did not answer on 127.0.0.1:5432 within 30 s" >&2
exit 1
