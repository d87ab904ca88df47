#!/usr/bin/env bash
# The demo command (README): sets up .venv, migrates, then runs the supervisor, which starts the
# fake Thredfi server, a Celery worker + beat and the web server on http://127.0.0.1:8000/admin/,
# seeds sample data and prints an admin login. Ctrl-C stops everything.
# Arguments go to `manage.py rundemo`, e.g. `bash scripts/demo.sh --port 8080`.
# Environment: DATABASE_URL, CELERY_BROKER_URL (real services); THREDFI_PARTNER_UUID,
# THREDFI_API_KEY, THREDFI_BASE_URL (real Thredfi sandbox: then no fake server is started).
set -euo pipefail
source "$(dirname "$0")/bootstrap.sh"
export DJANGO_SETTINGS_MODULE=demo_project.settings
python manage.py migrate --noinput
exec python manage.py rundemo "$@"
