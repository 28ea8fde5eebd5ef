"""Docker: build the image, start/stop JupyterLab with compose, lint the container files.

    inv docker.build | docker.up [--gpu] | docker.down | docker.lint
"""

import os
import secrets
import subprocess

from invoke import Exit

from fastcourse import containers as ct
from fastcourse.util import run_child

from ._opts import task

COMPOSE = ["docker", "compose", "-f", str(ct.REPO / ct.COMPOSE)]


def _engine(gpu=False):
    try:
        ct.require_engine(gpu)
    except ct.DockerMissing as e:
        raise Exit(f"docker: {e}")
    except subprocess.TimeoutExpired:
        raise Exit(f"docker: the engine did not answer in 30 s — {ct.INSTALL_DOCKER}")


def _run(cmd, env=None):
    code = run_child(cmd, env=env)  # Ctrl-C / SIGTERM reach the build too
    if code:
        raise Exit(f"{' '.join(cmd[:3])} failed with {code} — read Docker's message above")


@task(help={"tag": "image tag (default fastcourse:latest)"})
def build(c, tag="fastcourse:latest"):
    """Build the CUDA-capable image from docker/Dockerfile (same lock as pip and conda)."""
    _engine()
    _run(["docker", "build", "-f", str(ct.REPO / ct.DOCKERFILE), "-t", tag, str(ct.REPO)])


@task(help={"gpu": "reserve the NVIDIA GPUs (needs the NVIDIA Container Toolkit)"})
def up(c, gpu=False):
    """Start JupyterLab in Docker on 127.0.0.1:8888 with a token (prints the URL)."""
    _engine(gpu)
    for folder in ("notebooks", "data", "models"):
        (ct.REPO / folder).mkdir(exist_ok=True)
    token = os.environ.get("JUPYTER_TOKEN") or secrets.token_urlsafe(24)
    files = COMPOSE + (["-f", str(ct.REPO / ct.COMPOSE_GPU)] if gpu else [])
    _run(files + ["up", "-d", "--build"], env={**os.environ, "JUPYTER_TOKEN": token})
    print(f"JupyterLab: http://127.0.0.1:8888/lab?token={token}")


@task
def down(c):
    """Stop the JupyterLab container (volumes and caches are kept)."""
    _engine()
    _run(COMPOSE + ["down"], env={**os.environ, "JUPYTER_TOKEN": os.environ.get("JUPYTER_TOKEN", "unused")})


@task
def lint(c):
    """Lint docker/Dockerfile with hadolint and check compose.yaml and devcontainer.json."""
    import shutil
    import sys
    from pathlib import Path

    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    r = subprocess.run([hadolint, "--config", str(ct.REPO / ".hadolint.yaml"), str(ct.REPO / ct.DOCKERFILE)])
    problems = [f"{f}: {p}" for f, ps in ct.lint_all().items() for p in ps]
    for p in problems:
        print(p)
    if r.returncode or problems:
        raise Exit("docker.lint found problems (above) — fix the container files")
    print("hadolint, compose and devcontainer checks passed")
