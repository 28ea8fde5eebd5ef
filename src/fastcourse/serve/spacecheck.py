"""Prove a Space bundle works before it is uploaded, and wait for the Space once it is.

- `resolves(folder)`: its requirements.txt resolves, wheels only, for the Space's Python on Linux x86_64 (uv);
- `self_contained(folder)`: a clean virtualenv made from requirements.txt alone (cached by its hash) runs
  app.py from the bundle folder, and one example image gets an answer through gradio_client;
- `wait_for_space(...)`: polls huggingface_hub's get_space_runtime until RUNNING or a failing stage.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ..errors import DeployError
from ..paths import remove_tree

SPACE_PLATFORM = "x86_64-manylinux_2_28"  # what Spaces run on
FAILED = ("BUILD_ERROR", "RUNTIME_ERROR", "CONFIG_ERROR", "NO_APP_FILE")
LOG_HINT = {"BUILD_ERROR": "?logs=build", "CONFIG_ERROR": "?logs=build"}


def pinned_python(folder: Path) -> str:
    """The python_version the bundle's README front matter pins."""
    m = re.search(r"^python_version:\s*\"?([\d.]+)", (folder / "README.md").read_text(), re.M)
    if not m:
        raise DeployError(f"{folder}/README.md pins no python_version — rebuild it with inv app.bundle")
    return m[1]


def _uv() -> list[str] | None:
    """How to run uv here (it is a dev tool: absent from the runtime image)."""
    import importlib.util

    if importlib.util.find_spec("uv") is None:
        return [shutil.which("uv")] if shutil.which("uv") else None
    return [sys.executable, "-m", "uv"]


def resolves(folder: Path) -> str:
    """'' when requirements.txt resolves, wheels only, for the Space's Python on Linux x86_64; else why not."""
    uv = _uv()
    if uv is None:
        return ""  # nothing to check with; the clean-venv check below still runs the bundle
    python = pinned_python(folder)
    r = subprocess.run(uv + ["pip", "compile", "requirements.txt", "--only-binary", ":all:", "--python-platform",
                             SPACE_PLATFORM, "--python-version", python, "-q", "--no-header", "-o", os.devnull],
                       cwd=folder, capture_output=True, text=True, timeout=600)
    return "" if r.returncode == 0 else (r.stderr.strip().splitlines() or [f"exit {r.returncode}"])[-1]


def clean_venv(folder: Path, cache: Path | None = None) -> Path:
    """A virtualenv with requirements.txt alone, for the pinned Python; reused while the requirements match."""
    python = pinned_python(folder)
    reqs = (folder / "requirements.txt").read_bytes()
    key = hashlib.sha256(reqs + python.encode()).hexdigest()[:16]
    cache = cache or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "fastcourse" / "space-venvs"
    venv = cache / key
    if (venv / ".complete").exists():
        return venv
    remove_tree(venv, cache)  # an unfinished one of ours, proven to lie under our cache folder
    uv = _uv()
    if uv:
        steps = [uv + ["venv", "-q", "--python", python, str(venv)],
                 uv + ["pip", "install", "-q", "--python", str(venv / "bin/python"), "-r", str(folder / "requirements.txt")]]
    elif f"{sys.version_info.major}.{sys.version_info.minor}" == python:
        steps = [[sys.executable, "-m", "venv", str(venv)],
                 [str(venv / "bin/python"), "-m", "pip", "install", "-q", "-r", str(folder / "requirements.txt")]]
    else:
        raise DeployError(f"the Space runs Python {python} and neither uv nor that Python is here — "
                          "pip install uv, then run the check again")
    for cmd in steps:
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
        except subprocess.TimeoutExpired:
            raise DeployError(f"making the clean virtualenv took over 30 minutes ({cmd[1]}) — check the network "
                              "to the package index, then run again") from None
        if r.returncode:
            raise DeployError(f"the bundle's requirements do not install in a clean virtualenv "
                              f"({(r.stderr.strip().splitlines() or ['?'])[-1][:160]}) — the Space would fail too")
    (venv / ".complete").touch()
    return venv


def self_contained(folder: Path, port: int = 0, timeout: float = 120) -> dict:
    """Run app.py from a clean virtualenv in the bundle folder (on `port`, or a free one) and send it the
    example the bundle holds (examples/example.json: an image, a form's row, a user and an item)."""
    import json

    from gradio_client import handle_file

    try:
        call = json.loads((folder / "examples" / "example.json").read_text())
    except (OSError, ValueError):
        raise DeployError(f"{folder}/examples/example.json is missing or broken — rebuild it with inv app.bundle") from None
    if not call["args"]:
        raise DeployError(f"{folder}/examples holds no image — the check needs one; train on a dataset with images")
    args = [handle_file(str(folder / a)) if i in call["files"] else a for i, a in enumerate(call["args"])]
    venv = clean_venv(folder)
    port = port or _free_port()
    log = tempfile.TemporaryFile("w+")
    start = time.perf_counter()
    proc = subprocess.Popen([str(venv / "bin/python"), "app.py", "--port", str(port)], cwd=folder, stdout=log,
                            stderr=subprocess.STDOUT, env={**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"})
    try:
        client = _connect(f"http://127.0.0.1:{port}/", proc, log, timeout)
        result = client.predict(*args, api_name="/predict")
        first_answer = time.perf_counter() - start
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    example = Path(call["args"][0]).name if call["files"] else ", ".join(map(str, call["args"]))[:60]
    return {"example": example, "label": answer(result), "first_answer_s": round(first_answer, 1),
            "python": pinned_python(folder), "venv": str(venv)}


def answer(result) -> str:
    """What an app said, in a few words: a label, a mask's classes, a rating."""
    if isinstance(result, dict) and "label" in result:
        return str(result["label"])
    if isinstance(result, dict) and "annotations" in result:
        return f"a mask of {', '.join(a['label'] for a in result['annotations']) or 'background only'}"
    if isinstance(result, (list, tuple)) and result and isinstance(result[0], (int, float)):
        return f"rating {float(result[0]):.2f}"
    return str(result)[:60]


def _free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on now."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _connect(url: str, proc, log, timeout: float):
    """A gradio_client Client once the app answers; DeployError with the app's last line if it dies."""
    from gradio_client import Client

    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            log.seek(0)
            last = (log.read().strip().splitlines() or ["?"])[-1][:160]
            raise DeployError(f"app.py exited with {proc.returncode} in the clean virtualenv ({last}) — "
                              "the Space would fail the same way")
        try:
            return Client(url, verbose=False)
        except Exception:  # not listening yet (gradio_client raises several kinds)
            time.sleep(0.5)
    raise DeployError(f"app.py did not answer within {timeout:.0f} s in the clean virtualenv")


def wait_for_space(api, space: str, endpoint: str, wait: float, poll: float = 2.0, log=print) -> str:
    """Follow the Space's stage until RUNNING (its URL) or a failing stage (DeployError with the logs' URL)."""
    url, last, deadline = f"{endpoint}/spaces/{space}", None, time.monotonic() + wait
    while True:
        stage = str(api.get_space_runtime(space).stage)
        if stage != last:
            log(f"Space {space}: {stage}")
            last = stage
        if stage == "RUNNING":
            return url
        if stage in FAILED:
            raise DeployError(f"the Space stopped at {stage} — read its logs: {url}{LOG_HINT.get(stage, '?logs=container')}")
        if time.monotonic() >= deadline:
            raise DeployError(f"the Space is still {stage} after {wait:.0f} s — follow it at {url} "
                              "(or wait longer: --wait SECONDS)")
        time.sleep(poll)
