# Sourced by scripts/test.sh and scripts/demo.sh: makes .venv with everything requirements.txt
# names, reinstalling only when requirements.txt, setup.cfg or pyproject.toml changed. Needs python3 >= 3.10.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    echo "==> creating .venv with $("$PYTHON" --version)"
    "$PYTHON" -m venv .venv
fi
stamp="$(cat requirements.txt setup.cfg pyproject.toml | sha256sum | cut -c1-16)"
if [ "$(cat .venv/.installed 2>/dev/null)" != "$stamp" ]; then
    echo "==> installing requirements into .venv"
    .venv/bin/python -m pip install --quiet --upgrade pip
    .venv/bin/python -m pip install --quiet -r requirements.txt
    echo "$stamp" > .venv/.installed
fi
export PATH="$ROOT/.venv/bin:$PATH"
