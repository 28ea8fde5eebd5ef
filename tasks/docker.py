"""Containers, with Docker or Podman: build the image, test it, start/stop JupyterLab, lint the files.

    inv docker.build [--engine podman] [--ca-bundle PATH] [--base IMAGE]
    inv docker.test  [...same]         builds, prints the size, runs the in-image checks as the image's user
    inv docker.up [--gpu] | docker.down | docker.lint | docker.base
"""

import json
import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

from fastcourse.console import human_bytes
from fastcourse.containers import engines as en, lint as ct
from fastcourse.env import gpu
from fastcourse.errors import EnvError, OptionError
from fastcourse.fileio import run_child
from fastcourse.paths import checkout

from ._opts import task

TAG = "localhost/fastcourse:latest"
HELP = {"engine": "docker or podman (default: whichever is installed, docker first)",
        "ca_bundle": "PEM CA bundle for pip behind a TLS-intercepting proxy (a build secret, never in a layer)",
        "base": f"base image (default {en.DEFAULT_BASE}; offline: {en.LOCAL_BASE} from inv docker.base)",
        "tag": f"image tag (default {TAG}; other builds: fastcourse:cpu, fastcourse:cu126)",
        "torch": "torch's build: cu130 (default, the lock's: driver >= 580, Turing and newer), cu126 (older GPUs "
                 "and drivers), cpu (no GPU: a smaller image)"}


def _run(cmd, env=None):
    code = run_child(cmd, env=env)  # Ctrl-C / SIGTERM reach the build too
    if code:
        raise EnvError(f"{' '.join(cmd[:2])} failed with {code} — read the engine's message above")


def _base(engine: str, base) -> str | None:
    """The base to build on: as given, else the registry's (pulled), else the local stand-in (inv docker.base)."""
    if base or en.image_exists(engine, en.DEFAULT_BASE):
        return base
    if en.image_exists(engine, en.LOCAL_BASE):
        print(f"building on {en.LOCAL_BASE} (the local stand-in for {en.DEFAULT_BASE})")
        return en.LOCAL_BASE
    if subprocess.run([engine, "pull", en.DEFAULT_BASE], capture_output=True, timeout=600).returncode:
        raise EnvError(f"could not pull the base image {en.DEFAULT_BASE} (no registry answers?) — make a local "
                       f"stand-in with `inv docker.base` (debootstrap, as root), or pass --base IMAGE")
    return base


def build_image(engine, tag, ca_bundle, base, torch=gpu.DEFAULT) -> str:
    """Build docker/Dockerfile for torch's `torch` build; returns the engine used. A build other than the lock's
    needs the PyTorch index of that build: told in one line, before anything is built, when it cannot be reached."""
    if torch not in gpu.BUILDS:
        raise OptionError(f"--torch {torch!r} is not one of {', '.join(gpu.BUILDS)}")
    if torch != gpu.DEFAULT and not gpu.reachable(f"{gpu.INDEX}/{torch}/torch/"):
        raise EnvError(f"the PyTorch index for {torch} ({gpu.INDEX}/{torch}) cannot be reached from here — the {torch} "
                       "image installs torch from it; build it where it answers (or set FASTCOURSE_TORCH_INDEX to a "
                       "mirror)")
    engine = en.find(engine)
    en.check(engine)
    args = {"TORCH": torch, "FASTCOURSE_TORCH_INDEX": gpu.INDEX}
    cmd = en.build_command(engine, checkout() / ct.DOCKERFILE, tag, checkout(), _base(engine, base), ca_bundle, args)
    _run(cmd, env=en.build_env(engine))
    return engine


def tag_for(tag: str | None, torch: str) -> str:
    """The image tag: as given, else latest for the lock's build and the build's name for the others."""
    return tag or (TAG if torch == gpu.DEFAULT else TAG.replace(":latest", f":{torch}"))


@task(help=HELP)
def build(c, engine=None, tag=None, ca_bundle=None, base=None, torch=gpu.DEFAULT):
    """Build the image from docker/Dockerfile (the runtime lock, as pip and conda; --torch cpu: no CUDA)."""
    tag = tag_for(tag, torch)
    engine = build_image(engine, tag, ca_bundle or None, base, torch)
    print(f"built {tag} with {engine}: {human_bytes(en.image_size(engine, tag))}")


@task(help=HELP)
def test(c, engine=None, tag=None, ca_bundle=None, base=None, torch=gpu.DEFAULT):
    """Build the image, print its size, and run the in-image checks as its user (docker/check-image.sh)."""
    tag = tag_for(tag, torch)
    engine = build_image(engine, tag, ca_bundle or None, base, torch)
    size = en.image_size(engine, tag)
    print(f"image {tag}: {size / 1e9:.2f} GB ({size / 2**30:.2f} GiB; target <= 6.5 GB)", flush=True)
    health = json.dumps(en.healthcheck_command(checkout() / ct.DOCKERFILE))
    cmd = en.build_command(engine, checkout() / "docker/Dockerfile.test", "localhost/fastcourse-test:latest", checkout(),
                           build_args={"IMAGE": tag, "HEALTHCHECK_CMD": health}, extra=["--no-cache"])
    _run(cmd, env=en.build_env(engine))  # --no-cache: the checks run every time
    devcontainer(engine)
    print(f"in-image checks passed ({engine}); image {size / 1e9:.2f} GB")


def devcontainer(engine: str) -> None:
    """Build the devcontainer with the Dev Containers CLI (where it is installed); it reuses the image's layers."""
    cli = ct.devcontainer_cli()
    if not cli:
        print("devcontainer: the Dev Containers CLI is not installed (npm install @devcontainers/cli) — not built")
        return
    _run([cli, "build", "--workspace-folder", str(checkout()), "--docker-path", engine,
          "--image-name", "localhost/fastcourse-devcontainer:latest"], env=en.build_env(engine))
    print("devcontainer: built with the Dev Containers CLI")


@task(help={"engine": HELP["engine"], "tag": f"tag of the stand-in (default {en.LOCAL_BASE})",
            "as_default": f"also tag it {en.DEFAULT_BASE}, for tools that build on the default base "
                          "(the Dev Containers CLI); a later pull replaces it"})
def base(c, engine=None, tag=en.LOCAL_BASE, as_default=False):
    """Make a local stand-in for the base image with debootstrap (for machines no registry answers)."""
    engine = en.find(engine)
    en.make_base(engine, tag)
    if as_default:
        _run([engine, "tag", tag, en.DEFAULT_BASE])
    print(f"{tag}: {human_bytes(en.image_size(engine, tag))}; build on it: inv docker.build --base {tag}")


@task(help={"gpu": "hand the NVIDIA GPUs to the container (Docker: NVIDIA runtime; Podman: CDI)",
            "engine": HELP["engine"]})
def up(c, gpu=False, engine=None):
    """Start JupyterLab in a container on 127.0.0.1:8888 with a token (prints the URL)."""
    engine = en.find(engine)
    en.check(engine, gpu)
    for folder in ("notebooks", "data", "models"):
        (checkout() / folder).mkdir(exist_ok=True)
    token = os.environ.get("JUPYTER_TOKEN") or secrets.token_urlsafe(24)
    override = ct.COMPOSE_GPU if engine == "docker" else ct.COMPOSE_CDI
    files = [a for f in [ct.COMPOSE, *([override] if gpu else [])] for a in ("-f", str(checkout() / f))]
    _run(en.compose(engine) + files + ["up", "-d", "--build"], env={**os.environ, "JUPYTER_TOKEN": token})
    print(f"JupyterLab: http://127.0.0.1:8888/lab?token={token}")


@task(help={"engine": HELP["engine"]})
def down(c, engine=None):
    """Stop the JupyterLab container (volumes and caches are kept)."""
    engine = en.find(engine)
    en.check(engine)
    _run(en.compose(engine) + ["-f", str(checkout() / ct.COMPOSE), "down"],
         env={**os.environ, "JUPYTER_TOKEN": os.environ.get("JUPYTER_TOKEN", "unused")})


@task
def lint(c):
    """Lint the Dockerfile (hadolint), compose files and devcontainer (+ the Dev Containers CLI when present)."""
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not Path(hadolint).exists():
        raise EnvError("hadolint is not installed — it is a dev tool: bash scripts/setup.sh --dev installs it")
    r = subprocess.run([hadolint, "--config", str(checkout() / ".hadolint.yaml"), str(checkout() / ct.DOCKERFILE),
                        str(checkout() / "docker/Dockerfile.test")])
    problems = [f"{f}: {p}" for f, ps in ct.lint_all().items() for p in ps]
    problems += ct.devcontainer_cli_problems(checkout())
    for p in problems:
        print(p)
    if r.returncode or problems:
        raise EnvError("docker.lint found problems (above) — fix the container files")
    print("hadolint, compose and devcontainer checks passed")
