"""Issue 14: one universal lock for Linux x86_64/aarch64, macOS arm64 and Windows on Python 3.11-3.13;
setup.sh's choice of Python; the doctor on macOS (MPS, Rosetta). Platform facts are faked where needed."""

import subprocess
import tomllib
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet

from conftest import REPO
from fastcourse import deps, doctor


@pytest.mark.parametrize("python", deps.PYTHONS)
@pytest.mark.parametrize("platform", list(deps.PLATFORMS))
def test_lock_resolves_wheels_only(platform, python):
    """Every pin of the lock that applies to the platform and Python should have a wheel there (uv resolves)."""
    problem = deps.check_platform(REPO, platform, python)
    if problem and any(w in problem.lower() for w in ("network", "connect", "dns", "failed to fetch", "timed out")):
        pytest.skip(f"the package index is unreachable from here: {problem}")
    assert problem == "", f"{platform} / Python {python}: {problem}"


def test_pyproject_admits_python_311_to_313():
    """pyproject.toml should admit Python 3.11, 3.12 and 3.13 and not 3.10."""
    spec = SpecifierSet(tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["requires-python"])
    assert all(v in spec for v in ("3.11.0", "3.12.5", "3.13.1")) and "3.10.9" not in spec


@pytest.mark.parametrize("environment, numpy_major", [({"python_full_version": "3.11.7"}, "2"),
                                                      ({"python_full_version": "3.13.1"}, "2")])
def test_read_lock_takes_the_pins_of_this_platform(environment, numpy_major):
    """Pins with markers should be read for the platform asked, so env.check checks the current subset."""
    text = ("numpy==2.4.6 ; python_full_version < '3.12'\nnumpy==2.5.5 ; python_full_version >= '3.12'\n"
            "nvidia-cublas==13.1.1.3 ; sys_platform == 'linux'\ntorch==2.14.1\n")
    linux = {"sys_platform": "linux", **environment}
    mac = {"sys_platform": "darwin", **environment}
    want = "2.4.6" if environment["python_full_version"].startswith("3.11") else "2.5.5"
    assert deps.read_lock(text, linux)["numpy"] == want and "nvidia-cublas" in deps.read_lock(text, linux)
    assert "nvidia-cublas" not in deps.read_lock(text, mac) and deps.read_lock(text, mac)["torch"] == "2.14.1"


@pytest.mark.parametrize("machine, translated, mps, status, words", [
    ("x86_64", True, False, "fail", "Rosetta"),
    ("arm64", False, True, "ok", "MPS"),
    ("arm64", False, False, "warn", "CPU"),
])
def test_doctor_on_macos(machine, translated, mps, status, words):
    """On a Mac the doctor should report MPS, and an x86 Python under Rosetta as blocking with the fix."""
    [check] = doctor.check_apple("Darwin", machine, translated, mps)
    assert check.status == status and words in check.name + check.value
    if status == "fail":
        assert "arm64 Python" in check.fix


def test_doctor_on_linux_has_no_apple_rows():
    """Off macOS the Apple checks should not appear."""
    assert doctor.check_apple("Linux", "x86_64", False, False) == []


def fake_python(folder: Path, name: str, ok: bool) -> None:
    """An executable that answers setup.sh's version check as a suitable (or too old) Python would."""
    path = folder / name
    path.write_text(f"#!/bin/sh\nexit {0 if ok else 1}\n")
    path.chmod(0o755)


@pytest.mark.parametrize("present, chosen", [
    ({"python3": True}, "python3"),
    ({"python3": False, "python3.12": True}, "python3.12"),
    ({"python3": False, "python3.13": True, "python3.11": True}, "python3.13"),
    ({"python3": False}, None),
])
def test_setup_sh_chooses_a_suitable_python(tmp_path, present, chosen):
    """setup.sh should use python3 when it is 3.11-3.13, else a versioned one, else print the one-line fix."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, ok in present.items():
        fake_python(bin_dir, name, ok)
    for tool in ("dirname", "cat", "mktemp"):  # what the script itself calls before choosing
        (bin_dir / tool).symlink_to(subprocess.run(["which", tool], capture_output=True, text=True).stdout.strip())
    env = {"PATH": str(bin_dir), "HOME": str(tmp_path)}
    r = subprocess.run(["/bin/bash", str(REPO / "scripts/setup.sh"), "--print-python"], env=env,
                       capture_output=True, text=True, cwd=tmp_path)
    if chosen:
        assert r.returncode == 0 and r.stdout.strip() == str(bin_dir / chosen)
    else:
        assert r.returncode == 1 and r.stderr.strip().startswith("fastcourse needs Python 3.11-3.13")
        assert len(r.stderr.strip().splitlines()) == 1


def test_training_device_order(monkeypatch):
    """Training should use CUDA if present, else MPS, else the CPU (faked: no GPU here to show it)."""
    import torch

    from fastcourse import train

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert train.device() == "mps"
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert train.device() == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert train.device() == "cuda"
