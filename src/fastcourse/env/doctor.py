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
    "DuckDuckGo (image search)": ("duckduckgo.com", 443),
    "Hugging Face (deploy)": ("huggingface.co", 443),
    "GitHub (course notebooks)": ("github.com", 443),
    "PyTorch weights (pretrained models)": ("download.pytorch.org", 443),
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


def check_cuda() -> list[Check]:
    """GPU visibility: torch's view, the driver, and the CUDA version torch was built for."""
    import torch

    built = torch.version.cuda or "none (CPU-only build)"
    driver = _nvidia_smi("driver_version")
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        gpu = f"{props.name}, {props.total_memory / 1024**3:.0f} GB, driver {driver or '?'}, torch CUDA {built}"
        return [Check("GPU", "ok", f"{torch.cuda.device_count()}x {gpu}")]
    if not driver and sys.platform == "darwin":
        return []  # a Mac's GPU is Apple's MPS: check_apple reports it
    if driver and not torch.version.cuda:
        return [Check("GPU", "fail", f"driver {driver} present but torch is CPU-only",
                      "pip install -r requirements.lock --force-reinstall torch torchvision")]
    fix = ("torch cannot use the GPU: update the NVIDIA driver (WSL: the Windows driver)"
           if driver else "fine for the course's small models; for speed use a GPU machine")
    return [Check("GPU", "warn", f"none — training runs on CPU (torch CUDA {built})", fix)]


def _nvidia_smi(field: str) -> str:
    try:
        out = subprocess.run(["nvidia-smi", f"--query-gpu={field}", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=10)
        return out.stdout.strip().splitlines()[0] if out.returncode == 0 and out.stdout.strip() else ""
    except (OSError, subprocess.TimeoutExpired):
        return ""


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
    hint = "offline? `inv train` still works on the embedded dataset; check proxy/firewall for this host"
    return [Check(name, "ok" if up else "warn", f"{h}:{p} " + ("reachable" if up else "unreachable"),
                  "" if up else hint) for (name, (h, p)), up in zip(hosts.items(), results)]


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
