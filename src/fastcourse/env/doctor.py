"""`inv env.doctor`: an honest diagnosis of this machine for the course.

Every check returns a Check; `fail` is blocking (non-zero exit), `warn` is not.
Inputs (file-system root, environment variables, hosts) are parameters so tests can fake them.
"""

from __future__ import annotations

import os
import platform
import shutil
import socket
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Mapping

from ..paths import lock_file
from .lock import read_lock, same_version

SHM_MIN = 2 * 1024**3  # below this, DataLoader workers get killed in containers
DISK_WARN, DISK_FAIL = 10 * 1024**3, 1024**3  # free space where data/ and models/ go
HOSTS = {  # what the course reaches over the network
    "image search": ("duckduckgo.com", 443),
    "deploy": ("huggingface.co", 443),
    "course notebooks": ("github.com", 443),
    "pretrained weights": ("download.pytorch.org", 443),
}
VERSIONED = ["torch", "torchvision", "fastai", "fastcore", "gradio"]
KERNEL_FIX = "inv env.kernel  (registers this environment as the Jupyter kernel 'fastcourse')"


@dataclass
class Check:
    name: str
    status: str  # ok | warn | fail
    value: str
    fix: str = ""


def detect_platform(root: Path = Path("/"), environ: Mapping[str, str] = os.environ) -> dict:
    """Where we run: linux / wsl / docker / paperspace / kaggle / colab, plus the distro."""
    def read(rel):
        try:
            return (root / rel).read_text(errors="replace")
        except OSError:
            return ""
    distro = next((l.split("=", 1)[1].strip().strip('"') for l in read("etc/os-release").splitlines()
                   if l.startswith("PRETTY_NAME=")), platform.system())
    version = read("proc/version").lower()
    wsl = "microsoft" in version or "wsl" in version
    container = (root / ".dockerenv").exists() or (root / "run/.containerenv").exists() or any(
        k in read("proc/1/cgroup") for k in ("docker", "containerd", "kubepods"))
    if "KAGGLE_KERNEL_RUN_TYPE" in environ:
        kind = "kaggle"
    elif "COLAB_RELEASE_TAG" in environ or "COLAB_GPU" in environ:
        kind = "colab"
    elif any(k.startswith("PAPERSPACE_") for k in environ):
        kind = "paperspace"
    elif wsl:
        kind = "wsl2" if "wsl2" in version else "wsl"
    elif container:
        kind = "docker"
    else:
        kind = {"darwin": "macos"}.get(platform.system().lower(), platform.system().lower())
    if kind == "macos":
        distro = f"macOS {platform.mac_ver()[0] or '?'} ({platform.machine()})"
    return {"kind": kind, "distro": distro, "container": container, "wsl": wsl}


def check_apple(system: str | None = None, machine: str | None = None, translated: bool | None = None,
                mps: bool | None = None) -> list[Check]:
    """On macOS: Apple Silicon's GPU (MPS), and an x86 Python under Rosetta (blocking: torch would be x86 too)."""
    system = system or platform.system()
    if system != "Darwin":
        return []
    machine = machine or platform.machine()
    translated = _rosetta() if translated is None else translated
    if machine == "x86_64" and translated:
        return [Check("Apple Silicon", "fail", "this Python is x86_64, running under Rosetta",
                      "install an arm64 Python 3.11-3.13 (python.org, brew install python@3.12, or Miniforge), "
                      "then run bash scripts/setup.sh again")]
    if mps is None:
        import torch

        mps = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
    if mps:
        return [Check("Apple GPU (MPS)", "ok", "available — training uses it (PYTORCH_ENABLE_MPS_FALLBACK=1)")]
    return [Check("Apple GPU (MPS)", "warn", "not available — training runs on the CPU",
                  "needs macOS 14+ on Apple Silicon and an arm64 Python")]


def _rosetta() -> bool:
    """True when this process is translated by Rosetta 2 (sysctl.proc_translated = 1)."""
    try:
        out = subprocess.run(["sysctl", "-n", "sysctl.proc_translated"], capture_output=True, text=True, timeout=5)
        return out.stdout.strip() == "1"
    except (OSError, subprocess.TimeoutExpired):
        return False


def check_versions(lock_text: str) -> list[Check]:
    """Python and the key libraries against the lock (the known-good combination)."""
    pins = read_lock(lock_text)
    py = platform.python_version()
    good = (3, 11) <= sys.version_info[:2] <= (3, 13)
    out = [Check("Python", "ok" if good else "warn", py,
                 "" if good else "use Python 3.11-3.13 (bash scripts/setup.sh finds one, or conda env create -f environment.yml)")]
    for name in VERSIONED:
        want = pins.get(name)
        try:
            have = metadata.version(name)
        except metadata.PackageNotFoundError:
            out.append(Check(name, "fail", "not installed", "pip install -r requirements.lock -e ."))
            continue
        same = want is None or same_version(have, want)
        out.append(Check(name, "ok" if same else "warn", f"{have} (lock {want})",
                         "" if same else "pip install -r requirements.lock  (see inv env.check)"))
    return out


def torch_facts(prove: bool = True) -> dict:
    """What the installed torch can do with CUDA: its CUDA version, architectures, whether it sees a GPU, and
    (when it does) the proof: a matmul and a conv on the GPU checked against the CPU."""
    import torch

    facts = {"cuda": torch.version.cuda, "archs": torch.cuda.get_arch_list() if torch.version.cuda else [],
             "available": torch.cuda.is_available(), "count": torch.cuda.device_count() if torch.version.cuda else 0}
    if facts["available"] and prove:
        facts["proof"] = cuda_proof()
    return facts


def cuda_proof() -> str:
    """'' when a matmul and a conv on cuda match the CPU's results, else what went wrong (one line)."""
    import torch

    try:
        g = torch.Generator().manual_seed(0)
        a, b = torch.randn(64, 64, generator=g), torch.randn(64, 64, generator=g)
        x, w = torch.randn(2, 3, 16, 16, generator=g), torch.randn(4, 3, 3, 3, generator=g)
        mm = (a.cuda() @ b.cuda()).cpu()
        conv = torch.nn.functional.conv2d(x.cuda(), w.cuda()).cpu()
        torch.cuda.synchronize()
    except RuntimeError as e:
        return (str(e).strip().splitlines() or ["?"])[0][:160]
    worst = max(float((mm - a @ b).abs().max()), float((conv - torch.nn.functional.conv2d(x, w)).abs().max()))
    return "" if worst < 1e-2 else f"results differ from the CPU's by {worst:.3g}"


def check_cuda(gpus=None, facts: dict | None = None, system: str | None = None) -> list[Check]:
    """The GPU matrix: the cards nvidia-smi sees, their driver and architecture against this torch's build, and
    a real CUDA operation. Each mismatch is its own row with the exact fix (gpus and facts are parameters so the
    rows can be checked for cards that are not here)."""
    from . import gpu

    gpus = gpu.query() if gpus is None else gpus
    facts = torch_facts() if facts is None else facts
    system = system or platform.system()
    if not gpus:
        if system == "Darwin":
            return []  # a Mac's GPU is Apple's MPS: check_apple reports it
        rows = [Check("GPU", "warn", "no NVIDIA GPU — training runs on the CPU",
                      "fine for the course's small models; for speed use a GPU machine (Paperspace, Kaggle, Colab)")]
        if facts.get("cuda"):
            rows.append(Check("torch build", "warn", f"CUDA {facts['cuda']} build: its CUDA libraries cannot be used "
                              "here", "bash scripts/setup.sh --torch cpu  (the CPU build: about 5 GB less)"))
        return rows
    first = gpus[0]
    rows = [Check("GPU", "ok", f"{len(gpus)}x {first.name} ({first.sm}), driver {first.driver} "
                               f"(CUDA <= {gpu.driver_cuda(first.driver)})")]
    build, why = gpu.choose(gpus, system)
    if not facts.get("cuda"):
        return rows + [Check("torch build", "fail", "CPU-only: it cannot use the GPU",
                             f"bash scripts/setup.sh --torch {build}  ({why})")]
    need = 580 if facts["cuda"].startswith("13") else 525
    if gpu.driver_major(first.driver) < need:
        rows.append(Check("GPU driver", "fail", f"driver {first.driver} supports CUDA <= {gpu.driver_cuda(first.driver)}; "
                          f"torch here is built for CUDA {facts['cuda']} (driver >= {need})",
                          f"update the driver, or reinstall with the CUDA 12.6 build: bash scripts/setup.sh --torch {build}"))
    archs = [a for a in facts.get("archs", []) if a.startswith("sm_")]
    if archs and not any(g.sm in archs for g in gpus):
        rows.append(Check("GPU architecture", "fail", f"{first.name} ({first.sm}) is not in this torch's architectures "
                          f"({archs[0]}+)", f"bash scripts/setup.sh --torch {build}  ({why})"))
    if len(rows) == 1:
        proof = facts.get("proof")
        if not facts.get("available"):
            rows.append(Check("CUDA", "fail", "torch does not see the GPU", "check the driver (nvidia-smi), then "
                              f"bash scripts/setup.sh --torch {build}"))
        elif proof:
            rows.append(Check("CUDA proof", "fail", f"a matmul and a conv on the GPU failed: {proof}",
                              f"bash scripts/setup.sh --torch {build}  ({why})"))
        else:
            rows.append(Check("CUDA proof", "ok", f"a matmul and a conv on the GPU match the CPU (torch CUDA {facts['cuda']})"))
    return rows


def check_shm(shm: Path = Path("/dev/shm")) -> Check:
    """Shared memory for DataLoader workers (Docker defaults to 64 MB)."""
    try:
        total = shutil.disk_usage(shm).total
    except OSError:
        return Check("/dev/shm", "warn", "missing", "use --shm-size=2g (docker) or bs/num_workers=0")
    ok = total >= SHM_MIN
    return Check("/dev/shm", "ok" if ok else "warn", f"{total / 1024**3:.1f} GB",
                 "" if ok else "DataLoader workers may be killed: docker run --shm-size=2g (compose: shm_size: 2gb)")


def check_disk(where: Path) -> Check:
    """Free space where data/ and models/ are written."""
    free = shutil.disk_usage(where).free
    status = "fail" if free < DISK_FAIL else "warn" if free < DISK_WARN else "ok"
    fix = "" if status == "ok" else f"free space under {where} (datasets and models need a few GB)"
    return Check(f"disk free ({where})", status, f"{free / 1024**3:.1f} GB", fix)


def _reachable(host: str, port: int, timeout: float) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def check_network(hosts: Mapping[str, tuple[str, int]] = HOSTS, timeout: float = 2.0) -> list[Check]:
    """TCP reachability of each host, all at once, each with a short timeout."""
    with ThreadPoolExecutor(len(hosts) or 1) as pool:
        results = list(pool.map(lambda hp: _reachable(*hp, timeout), hosts.values()))
    checks = [Check(name, "ok", f"{h}:{p} reachable") for (name, (h, p)), up in zip(hosts.items(), results) if up]
    down = [f"{h} ({name})" for (name, (h, _)), up in zip(hosts.items(), results) if not up]
    if down:  # one row and one fix for all of them: it is the same network
        checks.append(Check("network", "warn", f"unreachable: {', '.join(down)}",
                            "offline or behind a proxy/firewall: lessons 1-2 still work offline (inv train on the "
                            "embedded digits, your own photos in data/NAME/images/); the rest needs these hosts"))
    return checks


def check_hf_token(environ: Mapping[str, str] = os.environ) -> Check:
    """Whether a Hugging Face token is available — never the token itself."""
    from ..credentials import find_token
    from ..errors import UserError

    try:
        token, source = find_token(environ)
    except UserError as e:
        return Check("Hugging Face token", "warn", "unreadable", str(e))
    if token:
        return Check("Hugging Face token", "ok", f"yes ({source})")
    return Check("Hugging Face token", "warn", "no", "needed only to deploy: hf auth login, or export HF_TOKEN=...")


def check_kernel() -> Check:
    """Whether a Jupyter kernel runs this environment's Python."""
    try:
        from jupyter_client.kernelspec import KernelSpecManager
    except ImportError:
        return Check("Jupyter kernel", "warn", "Jupyter is not installed", "pip install -r requirements.lock")
    me = os.path.realpath(sys.executable)
    for name, spec in KernelSpecManager().get_all_specs().items():
        argv0 = spec["spec"]["argv"][0]
        if os.path.isabs(argv0) and os.path.realpath(argv0) == me:
            return Check("Jupyter kernel", "ok", f"{name} ({spec['spec']['display_name']})")
    return Check("Jupyter kernel", "warn", "this environment is not registered", KERNEL_FIX)


def check_kaggle(environ: Mapping[str, str] = os.environ, home: Path | None = None) -> Check:
    """Kaggle credentials in any form the kaggle 2.x client takes — where from, never the value."""
    from ..credentials import check_kaggle_files, kaggle_sources, readable_by_others
    from ..errors import UserError

    try:
        found = kaggle_sources(environ, home)
        check_kaggle_files(found)
    except UserError as e:
        return Check("Kaggle credentials", "warn", "unreadable", str(e))
    if not found:
        return Check("Kaggle credentials", "warn", "none",
                     "needed for lessons 5-10: kaggle auth login, or export KAGGLE_API_TOKEN=...")
    loose = [str(p) for _, p in found if p is not None and readable_by_others(p)]
    if loose:
        return Check("Kaggle credentials", "warn", f"yes ({found[0][0]}), readable by others",
                     f"chmod 600 {' '.join(loose)}")
    return Check("Kaggle credentials", "ok", f"yes ({found[0][0]})")


def check_graphviz(which=shutil.which) -> Check:
    """Graphviz's `dot`, which lesson 7 needs to draw decision trees."""
    dot = which("dot")
    if dot:
        return Check("graphviz (dot)", "ok", dot)
    return Check("graphviz (dot)", "warn", "not found",
                 "lesson 7 draws trees with it: sudo apt-get install graphviz (macOS: brew install graphviz)")


def run_all(root: Path, network_timeout: float = 2.0) -> dict:
    """Every check; `ok` is False when any is blocking."""
    plat = detect_platform()
    lock = lock_file()
    checks = [Check("platform", "ok", f"{plat['kind']} ({plat['distro']})")]
    checks += check_apple()  # macOS: Rosetta (blocking) and MPS, before anything else
    checks += check_versions(lock.read_text() if lock.exists() else "")
    checks += check_cuda() + [check_shm(), check_disk(root)]
    checks += check_network(timeout=network_timeout) + [check_hf_token(), check_kaggle(), check_graphviz()]
    checks += [check_kernel()]
    return {"platform": plat, "checks": [asdict(c) for c in checks],
            "ok": not any(c.status == "fail" for c in checks)}
