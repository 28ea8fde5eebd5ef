#!/usr/bin/env bash
# Usage: bash scripts/setup.sh [--dev] [--print-python]
# Makes .venv from requirements.lock (--dev: requirements-dev.lock) and installs fastcourse in editable mode (idempotent: reinstalls only
# when the lock or pyproject.toml changed). --dev also installs what the tests need outside Python: Debian's
# chromium (browser tests), when running as root. --print-python prints the interpreter it would use.
# Supported: Linux x86_64 and aarch64 (WSL included), macOS 14+ on Apple Silicon; Python 3.11-3.13.
# Written for bash 3.2 too (macOS): no associative arrays, no ${x,,}, no mapfile.
set -eu
cd "$(dirname "$0")/.."
FIX="fastcourse needs Python 3.11-3.13: install one (Ubuntu: sudo apt install python3.12-venv; macOS: brew install python@3.12) or use conda: conda env create -f environment.yml"

suitable() {  # suitable PYTHON: true when it is Python 3.11-3.13 with venv
  "$1" -c 'import sys, venv; sys.exit(not (3, 11) <= sys.version_info[:2] <= (3, 13))' >/dev/null 2>&1
}

find_python() {  # the first suitable interpreter: $PYTHON, python3, then versioned names
  for name in "${PYTHON:-}" python3 python3.13 python3.12 python3.11; do
    [ -n "$name" ] || continue
    path=$(command -v "$name" 2>/dev/null) || continue
    if suitable "$path"; then echo "$path"; return 0; fi
  done
  return 1
}

uv_venv() {  # no suitable Python: let uv (from the package index) provide 3.12, where the network allows
  any=$(command -v python3 2>/dev/null || command -v python 2>/dev/null) || return 1
  tools=$(mktemp -d)
  "$any" -m pip install -q --target "$tools" uv >/dev/null 2>&1 || return 1
  PYTHONPATH="$tools" "$any" -m uv venv --seed --python 3.12 .venv >/dev/null 2>&1 || return 1
}

PY=$(find_python) || PY=""
if [ "${1:-}" = "--print-python" ]; then
  if [ -n "$PY" ]; then echo "$PY"; exit 0; fi
  echo "$FIX" >&2; exit 1
fi
if [ -n "$PY" ]; then
  [ -x .venv/bin/python ] || "$PY" -m venv .venv
elif [ ! -x .venv/bin/python ] && ! uv_venv; then
  echo "$FIX" >&2; exit 1
fi
LOCK=requirements.lock  # runtime; --dev: runtime + test tools, same versions
[ "${1:-}" = "--dev" ] && LOCK=requirements-dev.lock
want=$(cat "$LOCK" pyproject.toml | (sha256sum 2>/dev/null || shasum -a 256) | cut -c1-64)
if [ "$(cat .venv/.fastcourse-lock 2>/dev/null)" != "$want" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -r "$LOCK" -e .
  echo "$want" > .venv/.fastcourse-lock
fi
if [ "${1:-}" = "--dev" ] && ! command -v chromium >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "browser tests need Chromium: sudo apt-get install chromium" >&2
  fi
fi
echo "environment ready: .venv (activate with: source .venv/bin/activate)"
