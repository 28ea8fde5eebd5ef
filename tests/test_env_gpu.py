"""The GPU matrix (issue: every learner's GPU): fake nvidia-smi outputs for each generation and driver give
the doctor's rows and setup.sh's torch build; a local stand-in of the PyTorch index proves the install routing.
No GPU can exist here: nvidia-smi is a script printing what the real one prints for each card, and torch's CUDA
facts (version, architectures, the proof) are passed in as the real torch reports them on such a machine."""

import hashlib
import os
import subprocess
import sys
import zipfile
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from conftest import REPO, closed_port_url, run_inv
from localserver import LocalServer

from fastcourse.env import doctor, gpu

CU130 = {"cuda": "13.0", "archs": ["sm_75", "sm_80", "sm_86", "sm_90", "sm_100", "sm_120"]}  # the lock's torch
CU126 = {"cuda": "12.6", "archs": ["sm_50", "sm_60", "sm_70", "sm_75", "sm_80", "sm_86", "sm_90"]}

CARDS = [  # (nvidia-smi's line, setup.sh --torch auto, doctor rows with the lock's torch: (name, status, words))
    ("Quadro M4000, 535.104.05, 5.2", "cu126", [("GPU", "ok", "Quadro M4000 (sm_52)"),
                                                ("GPU driver", "fail", "driver 535.104.05 supports CUDA <= 12.2"),
                                                ("GPU architecture", "fail", "(sm_52) is not in this torch's")]),
    ("Tesla P100-PCIE-16GB, 550.54.15, 6.0", "cu126", [("GPU", "ok", "sm_60"), ("GPU driver", "fail", "CUDA <= 12.4"),
                                                       ("GPU architecture", "fail", "Tesla P100-PCIE-16GB (sm_60) is "
                                                        "not in this torch's architectures (sm_75+)")]),
    ("Tesla V100-SXM2-16GB, 570.86.10, 7.0", "cu126", [("GPU", "ok", "sm_70"), ("GPU driver", "fail", "CUDA <= 12.8"),
                                                       ("GPU architecture", "fail", "--torch cu126")]),
    ("Tesla T4, 550.54.14, 7.5", "cu126", [("GPU", "ok", "Tesla T4 (sm_75)"),
                                           ("GPU driver", "fail", "driver 550.54.14 supports CUDA <= 12.4; torch here "
                                            "is built for CUDA 13.0 (driver >= 580)")]),
    ("NVIDIA A10G, 580.65.06, 8.6", "cu130", [("GPU", "ok", "NVIDIA A10G (sm_86)"),
                                              ("CUDA proof", "ok", "match the CPU")]),
    ("", "cpu", [("GPU", "warn", "no NVIDIA GPU"), ("torch build", "warn", "--torch cpu")]),
]


def fake_nvidia_smi(folder: Path, line: str) -> Path:
    """An nvidia-smi that answers --query-gpu=name,driver_version,compute_cap as the real one does for a card
    (or, with no line, as on a machine without an NVIDIA GPU: not found)."""
    folder.mkdir(parents=True, exist_ok=True)
    if line:
        (folder / "nvidia-smi").write_text(f"#!/bin/sh\necho '{line}'\n")
        (folder / "nvidia-smi").chmod(0o755)
    return folder


@pytest.mark.parametrize("line, build, rows", CARDS, ids=[c[0].split(",")[0] or "no GPU" for c in CARDS])
def test_each_generation_gets_its_rows_and_build(tmp_path, line, build, rows):
    """Each card and driver should give the doctor's rows with their exact fixes, and setup.sh's choice."""
    bin_dir = fake_nvidia_smi(tmp_path / "bin", line)
    env = {**os.environ, "PATH": f"{bin_dir}:/usr/bin:/bin"}
    gpus = gpu.query(run=lambda cmd, **kw: subprocess.run([str(bin_dir / cmd[0])] + cmd[1:], **kw)) if line else []
    facts = {**CU130, "available": bool(line), "proof": ""}
    got = [(c.name, c.status, c.value + " " + c.fix) for c in doctor.check_cuda(gpus, facts, "Linux")]
    assert [(n, s) for n, s, _ in got] == [(n, s) for n, s, _ in rows], got
    for (_, _, text), (_, _, words) in zip(got, rows):
        assert words in text
    if build != gpu.DEFAULT and any(s == "fail" for _, s, _ in rows):
        assert any(f"bash scripts/setup.sh --torch {build}" in t for _, _, t in got)
    chosen = subprocess.run(["bash", str(REPO / "scripts/setup.sh"), "--print-torch"], env=env, capture_output=True,
                            text=True, timeout=60)
    assert chosen.stdout.strip().splitlines()[-1] == build, chosen.stdout + chosen.stderr


def test_the_cuda_12_6_build_satisfies_a_pascal_card():
    """With the CUDA 12.6 build installed, a P100 on driver 550 should get no failing row, only the proof."""
    gpus = [gpu.GPU("Tesla P100-PCIE-16GB", "550.54.15", 6.0)]
    rows = doctor.check_cuda(gpus, {**CU126, "available": True, "proof": ""}, "Linux")
    assert [(r.name, r.status) for r in rows] == [("GPU", "ok"), ("CUDA proof", "ok")]


def test_a_failing_cuda_operation_is_a_row_with_the_fix():
    """torch that sees the card but has no kernel for it should fail the proof row (not report 'GPU ok')."""
    gpus = [gpu.GPU("NVIDIA A10G", "580.65.06", 8.6)]
    rows = doctor.check_cuda(gpus, {**CU130, "available": True,
                                    "proof": "CUDA error: no kernel image is available for execution"}, "Linux")
    assert rows[-1].name == "CUDA proof" and rows[-1].status == "fail" and "no kernel image" in rows[-1].value


def test_a_hanging_nvidia_smi_is_no_gpu_not_a_hang(tmp_path):
    """nvidia-smi that never answers should count as no working nvidia-smi after the timeout."""
    (tmp_path / "nvidia-smi").write_text("#!/bin/sh\nsleep 600\n")
    (tmp_path / "nvidia-smi").chmod(0o755)
    assert gpu.query(run=lambda cmd, **kw: subprocess.run([str(tmp_path / cmd[0])] + cmd[1:], **kw), timeout=1) is None


def wheel(folder: Path, name: str, version: str, files: dict[str, str]) -> Path:
    """A minimal pure-Python wheel of `name` at `version` (a stand-in for a real build)."""
    dist = f"{name.replace('-', '_')}-{version}"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{dist}-py3-none-any.whl"
    meta = {f"{dist}.dist-info/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
            f"{dist}.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
            **files}
    record = "".join(f"{p},sha256={hashlib.sha256(d.encode()).hexdigest()},{len(d)}\n" for p, d in meta.items())
    with zipfile.ZipFile(path, "w") as z:
        for p, d in {**meta, f"{dist}.dist-info/RECORD": record + f"{dist}.dist-info/RECORD,,\n"}.items():
            z.writestr(p, d)
    return path


@pytest.fixture
def torch_index(tmp_path):
    """A local stand-in of PyPI (/simple) and of the PyTorch index (/whl/BUILD) in PEP 503's layout, serving
    small stand-in wheels: torch and torchvision for each build, and a package that only the lock names."""
    files = tmp_path / "wheels"
    files.mkdir()
    builds = {"simple": "", "cu126": "+cu126", "cpu": "+cpu"}
    index = {b: {} for b in builds}
    for b, local in builds.items():
        for name, version in (("torch", "2.14.1"), ("torchvision", "0.29.1")):
            w = wheel(files / b, name, version + local, {f"{name}/__init__.py": f"__version__ = '{version}{local}'\n"})
            index[b].setdefault(name, []).append(w)
    index["simple"]["fcstandin-rest"] = [wheel(files / "simple", "fcstandin-rest", "1.0",
                                               {"fcstandin_rest/__init__.py": ""})]
    index["simple"]["nvidia-cublas"] = [wheel(files / "simple", "nvidia-cublas", "13.0.0", {"nvidia_cublas.py": ""})]

    class Index(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_GET(self):
            parts = [p for p in self.path.split("/") if p]
            build = parts[1] if parts[:1] == ["whl"] and len(parts) > 1 else "simple"
            wheels = index.get(build, {}).get(parts[-1] if parts else "", []) if not self.path.endswith(".whl") else []
            if self.path.endswith(".whl"):
                from urllib.parse import unquote

                body = Path(files / unquote(self.path.split("/files/", 1)[1])).read_bytes()
            elif wheels:
                body = "".join(f'<a href="/files/{w.parent.name}/{w.name}">{w.name}</a><br>' for w in wheels).encode()
            else:
                self.send_response(404)
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream" if self.path.endswith(".whl") else "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    with LocalServer(Index) as server:
        yield server


def install(tmp_path, server, build, index=None):
    """gpu.py install --torch BUILD in a fresh virtualenv, everything from the stand-ins; (result, versions)."""
    venv = tmp_path / f"venv-{build}"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    lock = tmp_path / "requirements.lock"
    lock.write_text("fcstandin-rest==1.0\n    # via fastcourse\ntorch==2.14.1\ntorchvision==0.29.1\n"
                    "nvidia-cublas==13.0.0 ; sys_platform == 'linux'\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}  # this machine's pip settings out
    env = {**env, "PIP_CONFIG_FILE": os.devnull, "PIP_INDEX_URL": f"{server.base}/simple",
           "PIP_TRUSTED_HOST": "127.0.0.1", "PIP_DISABLE_PIP_VERSION_CHECK": "1",
           "FASTCOURSE_TORCH_INDEX": index or f"{server.base}/whl"}
    r = subprocess.run([str(venv / "bin/python"), str(REPO / "src/fastcourse/env/gpu.py"), "install", "--torch", build,
                        "--lock", str(lock)], env=env, capture_output=True, text=True, timeout=600)
    code = ("from importlib import metadata as m\nfor n in ('torch', 'torchvision', 'fcstandin-rest', 'nvidia-cublas'):\n"
            "    try: print(n, m.version(n))\n    except m.PackageNotFoundError: pass")
    versions = subprocess.run([str(venv / "bin/python"), "-c", code], capture_output=True, text=True).stdout
    return r, dict(line.split() for line in versions.splitlines())


@pytest.mark.slow
@pytest.mark.parametrize("build", ["cu126", "cpu"])
def test_setup_installs_the_chosen_build_with_the_locks_versions(tmp_path, torch_index, build):
    """--torch cu126 / cpu should install torch and torchvision of the lock's versions from that build's index,
    everything else from the lock, and leave the lock's CUDA 13 stack out."""
    r, versions = install(tmp_path, torch_index, build)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert versions == {"torch": f"2.14.1+{build}", "torchvision": f"0.29.1+{build}", "fcstandin-rest": "1.0"}
    from fastcourse.env.lock import same_version

    assert same_version(versions["torch"], "2.14.1")  # what inv env.check compares


@pytest.mark.slow
def test_an_unreachable_torch_index_installs_the_default_in_one_line(tmp_path, torch_index):
    """Where the build's index cannot be reached, one line should say so and the lock's default be installed."""
    r, versions = install(tmp_path, torch_index, "cpu", index=closed_port_url())
    assert r.returncode == 0, r.stderr[-2000:]
    assert "cannot be reached: installing the lock's default (cu130) build instead" in r.stdout
    assert versions == {"torch": "2.14.1", "torchvision": "0.29.1", "fcstandin-rest": "1.0", "nvidia-cublas": "13.0.0"}


def test_docker_cpu_image_without_its_index_is_one_line(tmp_path):
    """inv docker.build --torch cpu where the PyTorch index cannot be reached should say so, before any build."""
    p = run_inv("docker.build", "--torch", "cpu", home=tmp_path, env={"FASTCOURSE_TORCH_INDEX": closed_port_url()})
    assert p.returncode == 1 and "Traceback" not in p.stderr
    assert "the PyTorch index for cpu" in p.stderr and "cannot be reached" in p.stderr


def test_lock_split_leaves_the_torch_stack_to_the_build():
    """The lock without torch's stack keeps every other pin; torch and torchvision keep their versions."""
    rest, pins = gpu.split_lock((REPO / "requirements.lock").read_text())
    assert pins == {"torch": "2.14.1", "torchvision": "0.29.1"}
    pinned = [line.split("==")[0] for line in rest.splitlines() if "==" in line and not line.startswith(" ")]
    assert "fastai" in pinned and not [p for p in pinned if p in ("torch", "torchvision", "triton")
                                       or p.startswith(("nvidia-", "cuda-"))]
