"""Shared fixtures: run `inv` in a subprocess against a scratch project folder."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def run_inv(*args, home=None, env=None, timeout=600, check=False):
    """Run `inv ARGS` from the repo's tasks with FASTCOURSE_HOME=home; returns CompletedProcess."""
    e = {**os.environ, **(env or {})}
    if home is not None:
        e["FASTCOURSE_HOME"] = str(home)
    e.setdefault("PYTHONUNBUFFERED", "1")
    p = subprocess.run([sys.executable, "-m", "invoke", "-r", str(REPO), *args], env=e,
                       cwd=home or REPO, capture_output=True, text=True, timeout=timeout)
    if check and p.returncode:
        raise AssertionError(f"inv {' '.join(args)} failed:\n{p.stdout}\n{p.stderr}")
    return p


@pytest.fixture
def inv():
    return run_inv
