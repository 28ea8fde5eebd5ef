"""Shared fixtures: run `inv` in a subprocess against a scratch project folder."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# A job a shell starts in the background without job control (a CI runner's step, `cmd &` in a script) ignores
# SIGINT, and every program it starts inherits that: Ctrl-C tests would then test nothing the learner sees. A
# handled SIGINT is reset to the default at exec, so the tasks these tests start get a terminal's Ctrl-C.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)
GOOD_SPEC = {"classes": ["3", "7"], "size": [32, 32], "resize": "squish", "pad_mode": "reflection",
             "mean": [0.5] * 3, "std": [0.5] * 3}  # a model.json as export writes it (for broken-model tests)


def run_inv(*args, home=None, env=None, timeout=600, check=False):
    """Run `inv ARGS` from the repo's tasks with FASTCOURSE_HOME=home; returns CompletedProcess.

    `env` adds to a copy of this process's environment (never to os.environ); a None value removes the key.
    """
    e = {k: v for k, v in {**os.environ, **(env or {})}.items() if v is not None}
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


def closed_port_url() -> str:
    """An http URL on 127.0.0.1 where nothing listens: connections to it are refused at once."""
    return f"http://127.0.0.1:{free_port()}"


def offline_env(torch_home: Path) -> dict:
    """Environment that forces the offline path on any machine: every proxy points at a closed local
    port, nothing bypasses it, and the weights cache (TORCH_HOME) is `torch_home`."""
    closed = closed_port_url()
    return {"HTTP_PROXY": closed, "HTTPS_PROXY": closed, "http_proxy": closed, "https_proxy": closed,
            "ALL_PROXY": closed, "NO_PROXY": "", "no_proxy": "", "HF_HUB_OFFLINE": "1",
            "TORCH_HOME": str(torch_home), "CUDA_VISIBLE_DEVICES": ""}


def seed_weights_cache(torch_home: Path, arch: str = "resnet18") -> Path:
    """A TORCH_HOME holding `arch`'s default torchvision weights file, as a download would leave it
    (here: freshly initialised weights, so the pretrained code path runs without the network)."""
    import torch
    import torchvision

    weights = torchvision.models.get_model_weights(arch).DEFAULT
    path = torch_home / "hub" / "checkpoints" / weights.url.rsplit("/", 1)[-1]
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    torch.save(torchvision.models.get_model(arch).state_dict(), path)
    return torch_home


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    """`inv train` with no arguments in an empty project folder, forced offline (no weights), once per run."""
    home = tmp_path_factory.mktemp("home")
    p = run_inv("train", home=home, env=offline_env(tmp_path_factory.mktemp("torch-empty")))
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    return home, p


@pytest.fixture(scope="session")
def pretrained(tmp_path_factory):
    """`inv train --epochs 1` with a seeded weights cache: the pretrained path (fine_tune), offline."""
    home = tmp_path_factory.mktemp("home-pretrained")
    torch_home = seed_weights_cache(tmp_path_factory.mktemp("torch-seeded"))
    p = run_inv("train", "--epochs", "1", home=home, env=offline_env(torch_home))
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
