"""The GPU matrix: which torch build a machine can use, read from nvidia-smi, and how to install it.

Standard library only, and runnable as a script: setup.sh and the Dockerfile run it before the kit is installed.
    python src/fastcourse/env/gpu.py choose                                  -> cu130 | cu126 | cpu, and why
    python src/fastcourse/env/gpu.py install --torch BUILD --lock requirements.lock [-- -e .]

torch 2.14 (the lock's) is built for CUDA 13.0 on PyPI: compute capability 7.5 and newer (Turing on), NVIDIA
driver 580 and newer. Its CUDA 12.6 build, on the PyTorch index, covers Maxwell, Pascal and Volta (5.0-7.0)
with drivers from 525 (CUDA's minor-version compatibility); 2.14 is the last release with CUDA 12 wheels.
"""

from __future__ import annotations

import os
import platform
import re
import subprocess
import sys
import tempfile
import urllib.request
from dataclasses import dataclass

DEFAULT = "cu130"  # the build PyPI serves and the lock pins
BUILDS = ("cu130", "cu126", "cpu")
MIN = {"cu130": {"driver": 580, "cc": 7.5}, "cu126": {"driver": 525, "cc": 5.0}}
DRIVER_CUDA = [(580, "13.0"), (575, "12.9"), (570, "12.8"), (560, "12.6"), (555, "12.5"), (550, "12.4"),
               (545, "12.3"), (535, "12.2"), (530, "12.1"), (525, "12.0"), (520, "11.8"), (450, "11.0")]
TORCH_STACK = re.compile(r"^(torch|torchvision|triton|nvidia-[\w-]+|cuda-[\w-]+)==", re.I)  # what a build replaces
INDEX = os.environ.get("FASTCOURSE_TORCH_INDEX", "https://download.pytorch.org/whl").rstrip("/")
SIZES = {"cu130": "about 7 GB (5 GB of it CUDA 13 libraries)", "cu126": "about 6 GB (CUDA 12.6 libraries)",
         "cpu": "about 2 GB (no CUDA libraries)"}


@dataclass
class GPU:
    name: str
    driver: str
    cc: float  # compute capability, e.g. 6.0 for a Tesla P100

    @property
    def sm(self) -> str:
        return f"sm_{int(round(self.cc * 10))}"


def query(run=subprocess.run, timeout: float = 10) -> list[GPU] | None:
    """The NVIDIA GPUs nvidia-smi lists ([] when it finds none), None when there is no working nvidia-smi
    (missing, failing, or hung past `timeout`)."""
    cmd = ["nvidia-smi", "--query-gpu=name,driver_version,compute_cap", "--format=csv,noheader"]
    try:
        r = run(cmd, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if r.returncode:
        return None
    gpus = []
    for line in r.stdout.strip().splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) == 3:
            try:
                gpus.append(GPU(parts[0], parts[1], float(parts[2])))
            except ValueError:
                continue
    return gpus


def driver_major(driver: str) -> int:
    """550 of '550.54.14'."""
    m = re.match(r"(\d+)", driver or "")
    return int(m[1]) if m else 0


def driver_cuda(driver: str) -> str:
    """The newest CUDA a driver runs ('12.4' for 550)."""
    major = driver_major(driver)
    return next((cuda for lo, cuda in DRIVER_CUDA if major >= lo), "none")


def choose(gpus: list[GPU] | None, system: str | None = None) -> tuple[str, str]:
    """(build, why) for this machine: the lock's CUDA 13 build where it runs, the CUDA 12.6 build for older
    cards and drivers, the CPU build where there is no usable NVIDIA GPU (Linux; a Mac uses PyPI's MPS build)."""
    system = system or platform.system()
    if not gpus:
        if system != "Linux":
            return DEFAULT, f"{system}: PyPI's torch (Apple's MPS on a Mac)"
        return "cpu", "no NVIDIA GPU: the CPU build (no 5 GB of CUDA libraries it could not use)"
    cc, driver = min(g.cc for g in gpus), min(driver_major(g.driver) for g in gpus)
    oldest = min(gpus, key=lambda g: g.cc)
    if driver >= MIN["cu130"]["driver"] and cc >= MIN["cu130"]["cc"]:
        return DEFAULT, f"{oldest.name} ({oldest.sm}) with driver {gpus[0].driver}: the CUDA 13 build"
    if driver >= MIN["cu126"]["driver"] and cc >= MIN["cu126"]["cc"]:
        if cc < MIN["cu130"]["cc"]:
            return "cu126", f"{oldest.name} ({oldest.sm}) is older than CUDA 13 supports (sm_75+): the CUDA 12.6 build"
        return "cu126", (f"driver {gpus[0].driver} supports CUDA <= {driver_cuda(gpus[0].driver)}, not CUDA 13 "
                         "(driver >= 580): the CUDA 12.6 build")
    if cc < MIN["cu126"]["cc"]:
        return "cpu", f"{oldest.name} ({oldest.sm}) is older than any torch 2.14 build supports: the CPU build"
    return "cpu", (f"driver {gpus[0].driver} is too old for any CUDA build of torch 2.14 (needs >= 525; update it, "
                   "then run setup.sh again): the CPU build meanwhile")


def split_lock(text: str) -> tuple[str, dict[str, str]]:
    """(the lock without the torch stack, {torch: version, torchvision: version}) — a build brings its own stack."""
    rest, pins = [], {}
    for line in text.splitlines():
        m = TORCH_STACK.match(line.strip())
        if m:
            if m[1].lower() in ("torch", "torchvision"):
                pins[m[1].lower()] = line.split("==", 1)[1].split(";")[0].split()[0].split("+")[0]
            continue
        rest.append(line)
    return "\n".join(rest) + "\n", pins


def reachable(url: str, timeout: float = 5) -> bool:
    """Whether an index answers within `timeout` seconds (an offline setup is not held up)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout):
            return True
    except OSError:
        return False


def install_commands(build: str, lock: str, python: str, extra: list[str], index: str = INDEX) -> list[list[str]]:
    """The pip commands that install `lock` with the torch stack of `build` (its index for that build)."""
    pip = [python, "-m", "pip", "install"]
    if build == DEFAULT:
        return [pip + ["-r", lock, *extra]]
    with open(lock) as f:
        rest, pins = split_lock(f.read())
    fd, rest_file = tempfile.mkstemp(prefix="lock-without-torch-", suffix=".txt")
    with os.fdopen(fd, "w") as f:
        f.write(rest)
    others = os.environ.get("PIP_INDEX_URL", "https://pypi.org/simple")
    return [pip + ["-r", rest_file, *extra],
            pip + [f"{name}=={version}+{build}" for name, version in sorted(pins.items())]
            + ["--index-url", f"{index}/{build}", "--extra-index-url", others, "-c", rest_file]]


def install(build: str, lock: str, extra: list[str], python: str = sys.executable, run=subprocess.call) -> int:
    """Install the lock for `build`; where its index cannot be reached, say so in one line and install the
    lock's default build instead."""
    if build != DEFAULT and not reachable(f"{INDEX}/{build}/torch/"):
        print(f"the PyTorch index for {build} ({INDEX}/{build}) cannot be reached: installing the lock's default "
              f"({DEFAULT}) build instead; run setup.sh --torch {build} again once it can be", flush=True)
        build = DEFAULT
    for cmd in install_commands(build, lock, python, extra):
        code = run(cmd)
        if code:
            return code
    return 0


def main(argv: list[str]) -> int:
    """choose | install --torch BUILD --lock LOCK [-- pip arguments]"""
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    argv = argv[: argv.index("--")] if "--" in argv else argv
    if argv[:1] == ["choose"]:
        build, why = choose(query())
        print(f"{build}\t{why}")
        return 0
    if argv[:1] == ["install"] and "--torch" in argv and "--lock" in argv:
        build, lock = argv[argv.index("--torch") + 1], argv[argv.index("--lock") + 1]
        if build not in BUILDS:
            print(f"--torch {build!r} is not one of auto, {', '.join(BUILDS)}", file=sys.stderr)
            return 2
        return install(build, lock, extra)
    print(__doc__.strip().splitlines()[3], file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
