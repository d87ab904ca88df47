#!/usr/bin/env bash
# The test command (README): sets up .venv, lints, then runs the whole suite twice:
#   1. on the embedded defaults: SQLite, in-memory broker, the fake Thredfi in-process;
#   2. on PostgreSQL + Redis (127.0.0.1) with real `celery worker` processes.
# With CI=true, services that are down are started, and a service that still cannot be reached
# fails the run. Without CI, pass 2 is skipped with a message when the services are not there.
# Extra arguments go to both pytest runs, e.g. `bash scripts/test.sh -k tokens`.
# Pass 2 uses TEST_DATABASE_URL (pytest-django creates and drops test_<name>; the database itself
# need not exist), TEST_BROKER_URL and TEST_CACHE_URL (a Redis cache shared with the workers).
set -euo pipefail
source "$(dirname "$0")/bootstrap.sh"

PG_URL="${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/thredfi}"
REDIS_URL="${TEST_BROKER_URL:-redis://127.0.0.1:6379/15}"
# Tokens cached by pytest and by the worker processes must be the same ones: Redis, its own db.
CACHE_REDIS_URL="${TEST_CACHE_URL:-rediscache://127.0.0.1:6379/14}"

run_pytest() {  # pytest, with exit 5 (no tests collected) treated as failure: we always have tests
    local rc=0
    python -m pytest "$@" || rc=$?
    if [ "$rc" -eq 5 ]; then echo "pytest collected no tests" >&2; return 1; fi
    return "$rc"
}

echo "==> ruff"
python -m ruff check .
python -m ruff format --check .

echo "==> lint-imports (setup.cfg: imports go one way)"
lint-imports

if [ "${CI:-}" = "true" ]; then
    # Browser tests (tests/browser/ and the demo's, marker `browser`, in pass 1 and pass 2):
    # Debian's headless Chromium + chromedriver; nothing downloads a browser build of its own.
    if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
        echo "==> installing chromium + chromium-driver for the browser tests"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver
    fi
fi

echo "==> pass 1: SQLite, in-memory broker"
# A subshell: `env` cannot run a shell function, and the unsets must not leak into pass 2.
(
    unset DATABASE_URL CACHE_URL CELERY_TASK_DEFAULT_QUEUE
    CELERY_BROKER_URL=memory:// run_pytest -m "not services" "$@"
)

# Django 4.2 LTS stays supported: under CI (or THREDFI_TEST_DJANGO42=1) the SQLite pass runs
# once more in a second venv pinned to 4.2 (browser and real-service tests run on 5.2 only).
if [ "${CI:-}" = "true" ] || [ "${THREDFI_TEST_DJANGO42:-}" = "1" ]; then
    echo "==> pass 1b: Django 4.2 LTS, SQLite"
    stamp42="$(cat requirements.txt setup.cfg | sha256sum | cut -c1-16)-dj42"
    if [ "$(cat .venv-django42/.installed 2>/dev/null)" != "$stamp42" ]; then
        "${PYTHON:-python3}" -m venv .venv-django42
        .venv-django42/bin/python -m pip install --quiet --upgrade pip
        .venv-django42/bin/python -m pip install --quiet -r requirements.txt "Django>=4.2,<4.3"
        echo "$stamp42" > .venv-django42/.installed
    fi
    (
        unset DATABASE_URL CACHE_URL CELERY_TASK_DEFAULT_QUEUE
        export PATH="$ROOT/.venv-django42/bin:$PATH"
        .venv-django42/bin/python -c 'import django; print("Django", django.get_version())'
        CELERY_BROKER_URL=memory:// run_pytest -m "not services and not browser" "$@"
    )
fi

echo "==> pass 2: PostgreSQL + Redis + real celery workers"
if [ "${CI:-}" = "true" ]; then
    bash scripts/services.sh ensure
elif ! bash scripts/services.sh probe; then
    echo "PostgreSQL or Redis is not reachable on 127.0.0.1; skipping pass 2 (CI=true makes this a failure)."
    exit 0
fi
DATABASE_URL="$PG_URL" CELERY_BROKER_URL="$REDIS_URL" CACHE_URL="$CACHE_REDIS_URL" \
    THREDFI_REQUIRE_SERVICES=1 run_pytest "$@"
