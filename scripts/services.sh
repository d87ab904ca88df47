#!/usr/bin/env bash
# probe: exit 0 when PostgreSQL and Redis answer on 127.0.0.1.
# ensure: start whichever is down (CI machines), then fail loudly if one still does not answer.
# PG_PORT / REDIS_PORT (default 5432 / 6379) name the ports to check and start on.
set -uo pipefail
PG_PORT="${PG_PORT:-5432}"
REDIS_PORT="${REDIS_PORT:-6379}"
PY="$(command -v python3 || command -v python)"

pg_up() { pg_isready -q -h 127.0.0.1 -p "$PG_PORT" 2>/dev/null || "$PY" - "$PG_PORT" <<'PY'
import socket, sys
try: socket.create_connection(("127.0.0.1", int(sys.argv[1])), 2).close()
except OSError: sys.exit(1)
PY
}
redis_up() { "$PY" - "$REDIS_PORT" <<'PY'
import socket, sys
try:
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), 2); s.sendall(b"PING\r\n")
    sys.exit(0 if s.recv(16).startswith(b"+PONG") else 1)
except OSError: sys.exit(1)
PY
}
wait_for() { for _ in $(seq 1 30); do "$1" && return 0; sleep 1; done; return 1; }

start_pg() {
    if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
        # Debian/Ubuntu packaging: start the cluster listening on PG_PORT (any version).
        for dir in /etc/postgresql/*/*/; do
            version="$(basename "$(dirname "$dir")")"; cluster="$(basename "$dir")"
            port="$(pg_conftool -s "$version" "$cluster" show port 2>/dev/null || echo 5432)"
            if [ "$port" = "$PG_PORT" ]; then
                pg_ctlcluster --skip-systemctl-redirect "$version" "$cluster" start || true
            fi
        done
    else
        echo "no Debian PostgreSQL cluster found: install postgresql (apt-get install postgresql)," \
             "allow trust auth for user postgres on 127.0.0.1, or set TEST_DATABASE_URL" >&2
    fi
}
start_redis() {
    if command -v redis-server >/dev/null; then
        redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" \
            --save "" --appendonly no || true
    else
        echo "redis-server not found: install redis (apt-get install redis-server)" >&2
    fi
}

case "${1:-probe}" in
  probe) pg_up && redis_up ;;
  ensure)
    if ! pg_up; then echo "==> starting PostgreSQL on port $PG_PORT"; start_pg; fi
    if ! redis_up; then echo "==> starting Redis on port $REDIS_PORT"; start_redis; fi
    wait_for pg_up || { echo "FATAL: PostgreSQL is not reachable on 127.0.0.1:$PG_PORT" >&2; exit 1; }
    wait_for redis_up || { echo "FATAL: Redis is not reachable on 127.0.0.1:$REDIS_PORT" >&2; exit 1; }
    echo "==> PostgreSQL and Redis are up"
    ;;
  *) echo "usage: $0 probe|ensure" >&2; exit 2 ;;
esac
