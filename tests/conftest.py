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


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    """`inv train` with no arguments in an empty project folder (embedded data, offline), once per run."""
    home = tmp_path_factory.mktemp("home")
    p = run_inv("train", home=home)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    return home, p


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, proc=None, timeout: float = 90) -> None:
    """Wait until `url` answers (or the process dies)."""
    import time
    import urllib.request

    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"server exited with {proc.returncode} before answering")
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            time.sleep(0.3)
    raise AssertionError(f"{url} did not answer within {timeout} s")
