#!/usr/bin/env bash
# probe: exit 0 when PostgreSQL and Redis answer on 127.0.0.1.
# ensure: start whichever is down (CI machines), then fail loudly if one still does not answer.
set -uo pipefail
pg_up() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null || python3 - <<'PY'
import socket, sys
try: socket.create_connection(("127.0.0.1", 5432), 2).close()
except OSError: sys.exit(1)
PY
}
redis_up() { python3 - <<'PY'
import socket, sys
try:
    s = socket.create_connection(("127.0.0.1", 6379), 2); s.sendall(b"PING\r\n")
    sys.exit(0 if s.recv(16).startswith(b"+PONG") else 1)
except OSError: sys.exit(1)
PY
}
wait_for() { for _ in $(seq 1 30); do "$1" && return 0; sleep 1; done; return 1; }

case "${1:-probe}" in
  probe) pg_up && redis_up ;;
  ensure)
    if ! pg_up; then
        echo "==> starting PostgreSQL"
        pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start || true
    fi
    if ! redis_up; then
        echo "==> starting Redis"
        redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no || true
    fi
    wait_for pg_up || { echo "FATAL: PostgreSQL is not reachable on 127.0.0.1:5432" >&2; exit 1; }
    wait_for redis_up || { echo "FATAL: Redis is not reachable on 127.0.0.1:6379" >&2; exit 1; }
    echo "==> PostgreSQL and Redis are up"
    ;;
  *) echo "usage: $0 probe|ensure" >&2; exit 2 ;;
esac
