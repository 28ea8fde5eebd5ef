"""Container engines for `inv docker.*`: Docker or Podman, detected or chosen, and the commands for each.

Podman builds with `--isolation chroot` where it runs nested (BUILDAH_ISOLATION=chroot); its GPU route is
CDI (`--device nvidia.com/gpu=all`), Docker's the NVIDIA runtime. A CA bundle for a TLS-intercepting proxy is
passed as a build secret (id pip_cert), never written into a layer.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

from ..errors import EnvError, OptionError

ENGINES = ("docker", "podman")
INSTALL = ("install Docker (https://docs.docker.com/engine/install/) or Podman (https://podman.io/docs/installation; "
           "Debian/Ubuntu: sudo apt-get install podman)")
GPU_HELP = ("install the NVIDIA Container Toolkit (https://docs.nvidia.com/datacenter/cloud-native/container-toolkit/"
            "latest/install-guide.html)")
CDI_SPECS = (Path("/etc/cdi/nvidia.yaml"), Path("/var/run/cdi/nvidia.yaml"))
DEFAULT_BASE = "docker.io/library/python:3.11-slim-bookworm"
LOCAL_BASE = "localhost/fastcourse-base:bookworm"  # made by `inv docker.base` (debootstrap) where no registry answers


def find(choice: str | None = None, which=shutil.which) -> str:
    """The engine to use: `choice`, else docker, else podman; EnvError naming both when there is none."""
    if choice and choice not in ENGINES:
        raise OptionError(f"--engine {choice!r} is not one of docker, podman")
    for name in [choice] if choice else ENGINES:
        if which(name):
            return name
    raise EnvError(f"no container engine: {'the ' + choice + ' command is' if choice else 'neither docker nor podman is'} "
                   f"installed — {INSTALL}")


def check(engine: str, gpu: bool = False, run=subprocess.run) -> None:
    """EnvError unless the engine answers (and, with gpu, can hand the NVIDIA GPUs to a container)."""
    try:
        r = run([engine, "info", "--format", "{{json .}}"], capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        raise EnvError(f"{engine} did not answer in 60 s — start it (Docker Desktop / the docker service) "
                       "and run again") from None
    if r.returncode:
        why = (r.stderr.strip().splitlines() or ["?"])[-1][:120]
        raise EnvError(f"{engine} is installed but not answering ({why}) — start it, or {INSTALL}")
    if gpu and engine == "docker" and "nvidia" not in r.stdout:
        raise EnvError(f"Docker has no NVIDIA runtime — {GPU_HELP}, restart Docker, or run without --gpu")
    if gpu and engine == "podman" and not any(p.exists() for p in CDI_SPECS):
        raise EnvError("Podman has no CDI spec for the GPUs — sudo nvidia-ctk cdi generate --output=/etc/cdi/nvidia.yaml"
                       f" ({GPU_HELP}), or run without --gpu")


def compose(engine: str) -> list[str]:
    """`docker compose` or `podman compose`."""
    return [engine, "compose"]


def gpu_args(engine: str) -> list[str]:
    """`run` arguments that hand all NVIDIA GPUs to a container."""
    return ["--gpus", "all"] if engine == "docker" else ["--device", "nvidia.com/gpu=all"]


def build_command(engine: str, dockerfile: Path, tag: str, context: Path, base: str | None = None,
                  ca_bundle: Path | None = None, build_args: dict | None = None, extra: list | None = None) -> list[str]:
    """The build command; the CA bundle goes in as a secret (RUN --mount=type=secret,id=pip_cert)."""
    cmd = [engine, "build", "-f", str(dockerfile), "-t", tag]
    if ca_bundle:
        ca = Path(ca_bundle)
        if not ca.is_file():
            raise OptionError(f"--ca-bundle {ca}: no such file — give the PEM bundle your proxy's TLS uses "
                              "(e.g. /etc/ssl/certs/ca-certificates.crt)")
        cmd += ["--secret", f"id=pip_cert,src={ca.resolve()}"]
    for key, value in {**({"BASE": base} if base else {}), **(build_args or {})}.items():
        cmd += ["--build-arg", f"{key}={value}"]
    return cmd + list(extra or []) + [str(context)]


def build_env(engine: str) -> dict:
    """Environment for a build: BuildKit for Docker (secrets, RUN --mount)."""
    return {**os.environ, **({"DOCKER_BUILDKIT": "1"} if engine == "docker" else {})}


def image_exists(engine: str, image: str, run=subprocess.run) -> bool:
    """Whether `image` is in the engine's local store."""
    return run([engine, "image", "inspect", image], capture_output=True, timeout=60).returncode == 0


def image_size(engine: str, image: str, run=subprocess.run) -> int:
    """The image's size in bytes, as the engine reports it."""
    r = run([engine, "image", "inspect", "--format", "{{.Size}}", image], capture_output=True, text=True, timeout=60)
    return int(r.stdout.strip() or 0)


def healthcheck_command(dockerfile: Path) -> list[str]:
    """The HEALTHCHECK's CMD array from a Dockerfile (continuation lines joined)."""
    text = re.sub(r"\\\n\s*", " ", Path(dockerfile).read_text())
    m = re.search(r"^HEALTHCHECK\b.*?\bCMD\s+(\[.*\])\s*$", text, re.M)
    if not m:
        raise EnvError(f"{dockerfile} has no HEALTHCHECK ... CMD [...] line")
    return json.loads(m[1])


def make_base(engine: str, tag: str = LOCAL_BASE, suite: str = "bookworm",
              mirror: str = "http://deb.debian.org/debian", run=subprocess.run) -> None:
    """A local stand-in for the base image: debootstrap (Debian's package registry) then `import`."""
    import tempfile

    if not shutil.which("debootstrap"):
        raise EnvError("debootstrap is not installed — sudo apt-get install debootstrap (needs root), or pull "
                       f"{DEFAULT_BASE} from a registry")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "rootfs"
        r = run(["debootstrap", "--variant=minbase", "--include=python3,python3-venv,ca-certificates", suite,
                 str(root), mirror], capture_output=True, text=True, timeout=3600)
        if r.returncode:
            raise EnvError(f"debootstrap failed ({(r.stderr.strip().splitlines() or ['?'])[-1][:120]}) — it needs "
                           f"root and {mirror}")
        for cache in (root / "var/cache/apt").rglob("*"):  # debootstrap's .debs and package caches: 150 MB
            if cache.is_file() and cache.suffix in (".deb", ".bin"):
                cache.unlink()
        tar = subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
        imported = run([engine, "import", "-", tag], stdin=tar.stdout, capture_output=True, text=True, timeout=1800)
        tar.wait()
        if imported.returncode:
            raise EnvError(f"{engine} import failed: {(imported.stderr.strip().splitlines() or ['?'])[-1][:120]}")
