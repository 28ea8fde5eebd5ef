"""Docker image, compose and devcontainer: structural checks (`inv docker.lint`) and what the Dev Containers
CLI (npm @devcontainers/cli) reads of .devcontainer/."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

from ..errors import EnvError
from ..paths import checkout
DOCKERFILE, COMPOSE, COMPOSE_GPU = "docker/Dockerfile", "docker/compose.yaml", "docker/compose.gpu.yaml"
COMPOSE_CDI = "docker/compose.cdi.yaml"  # Podman's GPU route: CDI devices
DEVCONTAINER = ".devcontainer/devcontainer.json"
def _size(text: str) -> int:
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmg]?)b?\s*", str(text).lower())
    return int(float(m[1]) * 1024 ** "_kmg".index(m[2] or "_")) if m else 0


def check_dockerfile(path: Path) -> list[str]:
    """Problems with the image recipe: root user, a second package list, source copied early, a CA in a layer."""
    lines = [l.strip() for l in path.read_text().splitlines() if l.strip() and not l.strip().startswith("#")]
    problems = []
    users = [l.split()[1] for l in lines if l.upper().startswith("USER ")]
    if not users or users[-1].split(":")[0] in ("root", "0"):
        problems.append("the final USER must not be root")
    copies = [l for l in lines if l.upper().startswith("COPY ")]
    if not any("requirements.lock" in l for l in copies):
        problems.append("the image must install from requirements.lock (the lock pip and conda use)")
    if any(re.search(r"pip install(?!.*(-r \S*requirements\.lock|-e \.))", l) for l in lines):
        problems.append("pip installs something other than the lock and the package: a second package list")
    if copies and not re.match(r"COPY (--chown=\S+ )?\. \.", copies[-1]):
        problems.append("the source (COPY . .) should be copied last, for cache reuse")
    if any(re.search(r"(COPY|ADD)\s.*\.(crt|pem)\b", l) for l in lines):
        problems.append("a certificate is copied into a layer: pass it as a build secret (--ca-bundle)")
    if not any(l.upper().startswith("HEALTHCHECK") for l in lines):
        problems.append("no HEALTHCHECK")
    if not any("tini" in l for l in lines if l.upper().startswith("ENTRYPOINT")):
        problems.append("no init process (tini) as ENTRYPOINT")
    return problems


def check_compose(path: Path) -> list[str]:
    """Problems with the lab service: exposure, token, shm, volumes."""
    lab = (_yaml(path) or {}).get("services", {}).get("lab")
    if not lab:
        return ["no 'lab' service"]
    problems = []
    for port in lab.get("ports", []):
        if not str(port).startswith("127.0.0.1:"):
            problems.append(f"port {port} is published on all interfaces: use 127.0.0.1:HOST:CONTAINER")
    if "JUPYTER_TOKEN" not in lab.get("environment", {}):
        problems.append("JUPYTER_TOKEN is not set: Jupyter would run without a token")
    if _size(lab.get("shm_size", "0")) < 2 * 1024**3:
        problems.append(f"shm_size {lab.get('shm_size')} is under 2 GB: DataLoader workers get killed")
    targets = [str(v).split(":")[1] for v in lab.get("volumes", [])]
    for folder in ("notebooks", "data", "models"):
        if not any(t.endswith(f"/{folder}") for t in targets):
            problems.append(f"no volume for {folder}/")
    if not any(t.endswith("/.cache") for t in targets):
        problems.append("no named volume for the model and weights caches (~/.cache)")
    return problems


def check_gpu_override(path: Path) -> list[str]:
    """The GPU override must reserve NVIDIA devices for the lab service."""
    lab = (_yaml(path) or {}).get("services", {}).get("lab", {})
    devices = lab.get("deploy", {}).get("resources", {}).get("reservations", {}).get("devices", [])
    return [] if any(d.get("driver") == "nvidia" for d in devices) else ["no NVIDIA device reservation"]


def check_devcontainer(path: Path) -> list[str]:
    """The devcontainer must reuse docker/Dockerfile and run on hosts with or without a GPU."""
    dc = json.loads(path.read_text())
    problems = []
    if (path.parent / dc.get("build", {}).get("dockerfile", "")).resolve() != (path.parents[1] / DOCKERFILE).resolve():
        problems.append("build.dockerfile must point at docker/Dockerfile (one recipe)")
    if dc.get("hostRequirements", {}).get("gpu") != "optional":
        problems.append('hostRequirements.gpu must be "optional"')
    missing = {8888, 7860} - set(dc.get("forwardPorts", []))
    if missing:
        problems.append(f"forwardPorts lacks {sorted(missing)}")
    if "inv env.doctor" not in str(dc.get("postCreateCommand", "")):
        problems.append("postCreateCommand should run inv env.doctor")
    return problems


def _yaml(path: Path):
    """A YAML file (PyYAML, which the runtime has through papermill; imported only when linting)."""
    import yaml

    return yaml.safe_load(path.read_text())


def lint_all(root: Path | None = None) -> dict[str, list[str]]:
    """Every structural check, by file."""
    root = root or checkout()
    return {DOCKERFILE: check_dockerfile(root / DOCKERFILE), COMPOSE: check_compose(root / COMPOSE),
            COMPOSE_GPU: check_gpu_override(root / COMPOSE_GPU), DEVCONTAINER: check_devcontainer(root / DEVCONTAINER)}


def _answers(engine: str) -> bool:
    """Whether the engine's CLI can reach an engine (engines.check passes)."""
    from .engines import check

    try:
        check(engine)
        return True
    except (EnvError, OSError):
        return False


def devcontainer_cli(root: Path | None = None, which=shutil.which) -> str | None:
    """The Dev Containers CLI (npm @devcontainers/cli): on PATH, or in .tools/ where CI installs it."""
    root = root or checkout()
    local = root / ".tools/node_modules/.bin/devcontainer"
    return which("devcontainer") or (str(local) if local.exists() else None)


def devcontainer_cli_problems(root: Path | None = None, engine: str | None = None, which=shutil.which) -> list[str]:
    """What the Dev Containers CLI says of .devcontainer/ (nothing to say without the CLI or an engine)."""
    root = root or checkout()
    cli = devcontainer_cli(root, which)
    engine = engine or next((e for e in ("docker", "podman") if which(e) and _answers(e)), None)
    if not cli or not engine:
        return []
    r = subprocess.run([cli, "read-configuration", "--workspace-folder", str(root), "--docker-path", engine],
                       capture_output=True, text=True, timeout=120)
    if r.returncode:
        return [f"{DEVCONTAINER}: devcontainer read-configuration failed: {(r.stderr.strip().splitlines() or ['?'])[-1]}"]
    try:
        config = json.loads(r.stdout)["configuration"]
    except (ValueError, KeyError):
        return [f"{DEVCONTAINER}: devcontainer read-configuration gave no configuration"]
    want = (root / DOCKERFILE).resolve()
    got = (root / ".devcontainer" / config.get("build", {}).get("dockerfile", "")).resolve()
    return [] if got == want else [f"{DEVCONTAINER}: the CLI builds {got}, not {want}"]
