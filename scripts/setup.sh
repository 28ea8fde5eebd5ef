#!/usr/bin/env bash
# Usage: bash scripts/setup.sh [--dev] [--torch auto|cu130|cu126|cpu] [--print-python] [--print-torch]
# Makes .venv from requirements.lock (--dev: requirements-dev.lock) and installs fastcourse in editable mode
# (idempotent: reinstalls only when the lock, pyproject.toml or the torch build changed). --torch picks torch's
# build (default auto: from nvidia-smi, see src/fastcourse/env/gpu.py): cu130 is the lock's (PyPI), cu126 the
# PyTorch index's build for Maxwell/Pascal/Volta cards and drivers 525-579, cpu no CUDA at all.
# --dev also installs what the tests need outside Python: Debian's chromium (browser tests), when running as root.
# Supported: Linux x86_64 and aarch64 (WSL included), macOS 14+ on Apple Silicon; Python 3.11-3.13.
# Written for bash 3.2 too (macOS): no associative arrays, no ${x,,}, no mapfile.
set -eu
cd "$(dirname "$0")/.."
FIX="fastcourse needs Python 3.11-3.13: install one (Ubuntu: sudo apt install python3.12-venv; macOS: brew install python@3.12) or use conda: conda env create -f environment.yml"
DEV="" TORCH=auto PRINT=""
while [ $# -gt 0 ]; do
  case "$1" in
    --dev) DEV=1 ;;
    --torch) TORCH=${2:-}; shift ;;
    --torch=*) TORCH=${1#--torch=} ;;
    --print-python|--print-torch) PRINT=$1 ;;
    *) echo "setup.sh: unknown option $1 — use --dev, --torch auto|cu130|cu126|cpu, --print-python" >&2; exit 2 ;;
  esac
  shift
done
case "$TORCH" in auto|cu130|cu126|cpu) ;; *) echo "setup.sh: --torch $TORCH is not one of auto, cu130, cu126, cpu" >&2; exit 2 ;; esac

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
if [ "$PRINT" = "--print-python" ]; then
  if [ -n "$PY" ]; then echo "$PY"; exit 0; fi
  echo "$FIX" >&2; exit 1
fi
if [ "$TORCH" = auto ]; then  # the build this machine can use (nvidia-smi, with a timeout)
  choice=$("${PY:-python3}" src/fastcourse/env/gpu.py choose 2>/dev/null || printf 'cu130\tcould not read the GPU')
  TORCH=$(printf '%s' "$choice" | cut -f1)
  echo "torch build: $TORCH ($(printf '%s' "$choice" | cut -f2-))"
fi
if [ "$PRINT" = "--print-torch" ]; then echo "$TORCH"; exit 0; fi
if [ -n "$PY" ]; then
  [ -x .venv/bin/python ] || "$PY" -m venv .venv
elif [ ! -x .venv/bin/python ] && ! uv_venv; then
  echo "$FIX" >&2; exit 1
fi
LOCK=requirements.lock  # runtime; --dev: runtime + test tools, same versions
[ -n "$DEV" ] && LOCK=requirements-dev.lock
want=$( (cat "$LOCK" pyproject.toml; echo "$TORCH") | (sha256sum 2>/dev/null || shasum -a 256) | cut -c1-64)
if [ "$(cat .venv/.fastcourse-lock 2>/dev/null)" != "$want" ]; then
  case "$TORCH" in cpu) size="about 2 GB" ;; cu126) size="about 6 GB" ;; *) size="about 7 GB (5 GB of CUDA libraries)" ;; esac
  echo "installing $LOCK into .venv: $size, 3-15 minutes depending on the network (pip shows each package)"
  .venv/bin/python -m pip install -q --upgrade pip || echo "(pip could not upgrade itself; going on with $(.venv/bin/python -m pip --version | cut -d' ' -f2))"
  .venv/bin/python src/fastcourse/env/gpu.py install --torch "$TORCH" --lock "$LOCK" -- -e .
  echo "$want" > .venv/.fastcourse-lock
fi
if [ -n "$DEV" ] && ! command -v chromium >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "browser tests need Chromium: sudo apt-get install chromium" >&2
  fi
fi
echo "environment ready: .venv ($(du -sh .venv 2>/dev/null | cut -f1)). Next:"
echo "  source .venv/bin/activate   # then the commands are: inv ..."
echo "  inv train                   # your first model, offline, in about a minute"
echo "  inv env.doctor              # what works on this machine and what to fix"
