#!/usr/bin/env bash
# The test command (README): sets up .venv, lints, type-checks, builds the docs, then runs the
# whole suite twice:
#   1. on the embedded defaults: SQLite, in-memory broker, the fake Thredfi in-process;
#   2. on PostgreSQL + Redis (127.0.0.1) with real `celery worker` processes.
# With CI=true, services that are down are started, and a service that still cannot be reached
# fails the run. Without CI, pass 2 is skipped with a message when the services are not there.
# Also with CI=true (or THREDFI_TEST_EXTRA=1): pass 1 again on the other supported Django
# (pass 1b), and pass 1 against the built wheel installed in a venv of its own (pass 1w).
# Extra arguments go to every pytest run, e.g. `bash scripts/test.sh -k tokens`.
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

echo "==> mypy --strict (configuration in pyproject.toml)"
python -m mypy

echo "==> docs: mkdocs build --strict"
NO_MKDOCS_2_WARNING=1 python -m mkdocs build --strict --quiet --site-dir var/docs-site

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

sqlite_pass_in() {  # sqlite_pass_in VENV [pytest args]: pass 1 (no browser) on that venv, from $PWD
    local venv="$1"; shift
    (
        unset DATABASE_URL CACHE_URL CELERY_TASK_DEFAULT_QUEUE
        export PATH="$venv/bin:$PATH"
        python -c 'import sys, django; print("Python", sys.version.split()[0], "Django", django.get_version())'
        CELERY_BROKER_URL=memory:// run_pytest -m "not services and not browser" "$@"
    )
}

make_venv() {  # make_venv DIR PYTHON [pip install args]: reinstalled only when its inputs change
    local dir="$1" python="$2"; shift 2
    local stamp; stamp="$(cat requirements.txt pyproject.toml | sha256sum | cut -c1-16) $*"
    if [ "$(cat "$dir/.installed" 2>/dev/null)" != "$stamp" ]; then
        "$python" -m venv --clear "$dir"
        "$dir/bin/python" -m pip install --quiet --upgrade pip
        "$dir/bin/python" -m pip install --quiet "$@"
        echo "$stamp" > "$dir/.installed"
    fi
}

newer_python() {  # prints a python >= 3.12 (Django 6 needs it), installing Debian's if there is one
    local version
    for version in 3.14 3.13 3.12; do
        if command -v "python$version" >/dev/null && "python$version" -c 'import ensurepip' 2>/dev/null; then
            echo "python$version"; return 0
        fi
    done
    [ "${CI:-}" = "true" ] || return 1  # installs system packages only under CI
    apt-get update -qq >/dev/null 2>&1 || return 1
    for version in 3.14 3.13 3.12; do
        if apt-cache policy "python$version" | grep -q 'Candidate: [0-9]'; then
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "python$version" "python$version-venv" >/dev/null \
                && echo "python$version" && return 0
        fi
    done
    return 1
}

# The extra passes: CI runs them; THREDFI_TEST_EXTRA=1 runs them locally.
if [ "${CI:-}" = "true" ] || [ "${THREDFI_TEST_EXTRA:-}" = "1" ]; then
    # Pass 1b: the supported Django that .venv does not have (5.2 LTS and 6.1 are supported;
    # pip picks 6.1 where Python >= 3.12, else 5.2).
    if python -c 'import django, sys; sys.exit(django.VERSION[0] < 6)'; then
        other_django="Django>=5.2,<5.3" other_python="$PYTHON"
    else
        other_django="Django>=6.1,<6.2" other_python="$(newer_python || true)"
    fi
    if [ -z "$other_python" ]; then
        echo "==> pass 1b: skipped: Django 6.1 needs Python >= 3.12, and neither PATH nor apt has one here"
    else
        echo "==> pass 1b: $other_django on $other_python, SQLite"
        make_venv .venv-django-other "$other_python" -r requirements.txt "$other_django"
        sqlite_pass_in "$ROOT/.venv-django-other" "$@"
    fi

    # Pass 1w: the built wheel, installed in a venv of its own, tested from a directory where
    # the checkout's thredfi_django cannot be imported: a file missing from the wheel fails.
    echo "==> package: build the sdist and wheel, twine check"
    # Built from a copy without build/ or *.egg-info: setuptools would otherwise reuse the file
    # lists of an earlier build, and a file the package data misses would still be shipped.
    rm -rf dist
    mkdir -p var
    build_src="$(mktemp -d)"
    tar -c --exclude='./.venv*' --exclude='*.egg-info' --exclude=./build --exclude=./dist \
        --exclude=./var --exclude=./.git --exclude=__pycache__ --exclude='./.*_cache' . \
        | tar -x -C "$build_src"
    python -m build --outdir dist "$build_src" > var/build.log 2>&1 || { cat var/build.log; exit 1; }
    rm -rf "$build_src"
    python -m twine check --strict dist/*
    echo "==> pass 1w: the installed wheel, SQLite"
    grep -v '^-e ' requirements.txt > var/requirements-wheel.txt
    make_venv .venv-wheel "$PYTHON" -r var/requirements-wheel.txt
    .venv-wheel/bin/python -m pip install --quiet --force-reinstall --no-deps dist/*.whl
    wheel_dir="$(mktemp -d)"
    trap 'rm -rf "$wheel_dir"' EXIT
    cp -r tests benchmarks setup.cfg "$wheel_dir/"  # test_fault_injection runs a benchmark
    (
        cd "$wheel_dir"
        "$ROOT/.venv-wheel/bin/python" -c '
import thredfi_django
assert "site-packages" in thredfi_django.__file__, thredfi_django.__file__
print("thredfi_django", thredfi_django.__version__, "from", thredfi_django.__file__)'
        # The demo tests run the checkout's demo_project and the docs test reads docs/ and
        # scripts/; the wheel ships neither.
        sqlite_pass_in "$ROOT/.venv-wheel" -p no:cacheprovider \
            --ignore=tests/test_demo_run.py --ignore=tests/test_demo_browser.py \
            --ignore=tests/test_docs.py "$@"
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
