#!/usr/bin/env bash
# Usage: bash scripts/setup.sh [--dev]
# Makes .venv from requirements.lock and installs fastcourse in editable mode (idempotent:
# reinstalls only when the lock or pyproject.toml changed). --dev also installs what the
# tests need outside Python: Debian's chromium (browser tests), when running as root.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-$(command -v python3.11 || command -v python3)}
"$PY" -c 'import sys; assert sys.version_info[:2] == (3, 11), "fastcourse needs Python 3.11 (try: conda env create -f environment.yml)"'
[ -x .venv/bin/python ] || "$PY" -m venv .venv
want=$(cat requirements.lock pyproject.toml | sha256sum | cut -c1-64)
if [ "$(cat .venv/.fastcourse-lock 2>/dev/null)" != "$want" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -r requirements.lock -e .
  echo "$want" > .venv/.fastcourse-lock
fi
if [ "${1:-}" = "--dev" ] && ! command -v chromium >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "browser tests need Debian's chromium: sudo apt-get install chromium" >&2
  fi
fi
echo "environment ready: .venv (activate with: source .venv/bin/activate)"
