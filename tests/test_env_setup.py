"""scripts/setup.sh and inv setup.wsl / setup.paperspace on fake roots."""

import os
import subprocess
from pathlib import Path

import pytest
from conftest import REPO, run_inv
from helpers import fake_course22, snapshot

from fastcourse.env import platforms as pf


@pytest.fixture
def course_repo(tmp_path):
    """A local git repository standing in for fast.ai's course22 on GitHub (its shape: helpers.fake_course22)."""
    return fake_course22(tmp_path / "upstream")


def test_paperspace_setup_on_fake_root(tmp_path, course_repo):
    """setup.paperspace should link caches into /storage, write pre-run.sh, fetch notebooks; twice = no change."""
    root = tmp_path / "fakeroot"
    (root / "storage").mkdir(parents=True)
    home = root / str(Path.home()).lstrip("/")
    (home / ".fastai").mkdir(parents=True)
    (home / ".fastai/config.ini").write_text("learner's config")
    (root / "storage/home/.ssh").mkdir(parents=True)
    (root / "storage/home/.ssh/id_ed25519").write_text("key kept in storage")
    env = {"FASTCOURSE_ROOT": str(root), "PAPERSPACE_NOTEBOOK_REPO_ID": "x", "FASTCOURSE_COURSE_REPO": course_repo}
    plan = run_inv("setup.paperspace", home=tmp_path, env=env)
    assert plan.returncode == 0 and "to do" in plan.stdout and "--apply" in plan.stdout
    assert not (root / "storage/pre-run.sh").exists()  # the plan changes nothing
    first = run_inv("setup.paperspace", "--apply", home=tmp_path, env=env)
    assert first.returncode == 0, first.stdout + first.stderr
    for name in pf.PERSIST:
        assert (home / name).is_symlink() and os.readlink(home / name) == str(root / "storage/home" / name)
    assert (home / ".fastai/config.ini").read_text() == "learner's config"  # moved, not lost
    assert (home / ".ssh/id_ed25519").read_text() == "key kept in storage"
    script = root / "storage/pre-run.sh"
    assert os.access(script, os.X_OK) and f'relink "{home / ".fastai"}"' in script.read_text()
    assert (root / "notebooks/course22/00-is-it-a-bird-creating-a-model-from-your-own-data.ipynb").exists()
    before = snapshot(root)
    second = run_inv("setup.paperspace", "--apply", home=tmp_path, env=env)
    assert second.returncode == 0 and "to do" not in second.stdout and "done now" not in second.stdout
    assert snapshot(root) == before


def test_pre_run_script_restores_links(tmp_path):
    """pre-run.sh should relink a home folder that a restart left as a plain folder, keeping differing files."""
    root, home = tmp_path / "r", tmp_path / "r/home/me"
    storage = root / "storage"
    (storage / "home/.fastai").mkdir(parents=True)
    (storage / "home/.fastai/a.txt").write_text("persisted")
    (home / ".fastai").mkdir(parents=True)
    (home / ".fastai/a.txt").write_text("fresh and different")
    script = tmp_path / "pre-run.sh"
    script.write_text(pf.pre_run(home, storage, tmp_path))
    for _ in range(2):  # idempotent
        r = subprocess.run(["bash", str(script)], capture_output=True, text=True, env={**os.environ, "HOME": str(home)})
        assert r.returncode == 0, r.stderr
    assert (home / ".fastai").is_symlink() and (home / ".fastai/a.txt").read_text() == "persisted"
    aside = list(home.glob(".fastai.replaced-*"))
    assert len(aside) == 1 and (aside[0] / "a.txt").read_text() == "fresh and different"


def test_wsl_plan_and_apply_with_fake_system(tmp_path):
    """setup.wsl should plan, apply missing steps once (commands recorded), and do nothing the second time."""
    installed, calls = set(), []

    def run(cmd, **kw):
        calls.append(cmd)
        ok = (cmd[:2] == ["dpkg", "-s"] and cmd[2] in installed) or cmd[0] in ("wslpath",)
        if cmd[:4] == ["sudo", "-n", "apt-get", "install"]:
            installed.update(pf.APT)
            ok = True
        if cmd[0] == "bash":
            (tmp_path / "project/.venv").mkdir(parents=True)
            (tmp_path / "project/.venv/.fastcourse-lock").write_text("x")
            ok = True
        return subprocess.CompletedProcess(cmd, 0 if ok else 1, "\\\\wsl$\\Ubuntu\\home\\me\\project\n", "")

    home = tmp_path / "home"
    home.mkdir()
    steps = lambda: pf.wsl_steps(tmp_path / "project", home, run=run, which=lambda name: None)
    plan = pf.run_plan(steps(), apply=False)
    assert [r["state"] for r in plan].count("to do") == 6 and not (home / ".bashrc").exists()
    first = pf.run_plan(steps(), apply=True)
    assert {r["step"]: r["state"] for r in first}["the course environment (.venv)"] == "done now"
    assert sum(c[:3] == ["sudo", "-n", "apt-get"] for c in calls) == 1
    bashrc = (home / ".bashrc").read_text()
    calls.clear()
    second = pf.run_plan(steps(), apply=True)
    assert not any(c[0] in ("sudo", "bash") for c in calls) and (home / ".bashrc").read_text() == bashrc
    manual = {r["step"]: r["action"] for r in second if r["state"] == "to do"}
    assert "Windows" in manual["NVIDIA driver visible (nvidia-smi)"] and "code ." in manual["VS Code from WSL (code .)"]
    assert pf.windows_path(Path("/home/me/project"), run=run) == "\\\\wsl$\\Ubuntu\\home\\me\\project"


def test_setup_tasks_refuse_other_platforms_and_print_windows_path(tmp_path):
    """setup.wsl should refuse outside WSL, and in WSL always print the Windows path and explorer.exe."""
    root = tmp_path / "root"
    (root / "proc").mkdir(parents=True)
    (root / "proc/version").write_text("Linux version 6.1.0 (gcc)")
    p = run_inv("setup.wsl", home=tmp_path, env={"FASTCOURSE_ROOT": str(root)})
    assert p.returncode != 0 and "Windows Subsystem for Linux" in p.stderr
    (root / "proc/version").write_text("Linux version 5.15.146.1-microsoft-standard-WSL2")
    p = run_inv("setup.wsl", home=tmp_path, env={"FASTCOURSE_ROOT": str(root), "WSL_DISTRO_NAME": "Ubuntu-22.04"})
    assert p.returncode == 0, p.stderr
    assert "\\\\wsl$\\Ubuntu-22.04\\" in p.stdout and "explorer.exe ." in p.stdout
    q = run_inv("setup.paperspace", home=tmp_path, env={"FASTCOURSE_ROOT": str(root)})
    assert q.returncode != 0 and "Paperspace" in q.stderr


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


def test_wsl_plan_with_a_hanging_nvidia_smi_finishes(tmp_path):
    """A wedged driver (nvidia-smi that never returns) should make the GPU step 'to do', not hang the plan."""
    import time

    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "nvidia-smi").write_text("#!/bin/sh\nsleep 600\n")
    (fake / "nvidia-smi").chmod(0o755)
    calls = []

    def run(cmd, timeout=60, **kw):
        calls.append((cmd[0], timeout))
        return pf.runner([str(fake / cmd[0])] if cmd[0] == "nvidia-smi" else ["true"], timeout=min(timeout, 2))

    start = time.monotonic()
    rows = pf.run_plan(pf.wsl_steps(tmp_path, tmp_path, run=run, which=lambda n: str(fake / n)), apply=False)
    assert time.monotonic() - start < 60 and ("nvidia-smi", 15) in calls
    assert rows[0]["state"] == "to do"


def test_a_failing_apply_step_is_one_row_not_a_traceback(tmp_path):
    """A step whose command fails (sudo wanting a password) should be a FAILED row with its reason; the rest run."""
    def run(cmd, **kw):
        if cmd[0] == "sudo":
            return subprocess.CompletedProcess(cmd, 1, "", "sudo: a password is required\n")
        return subprocess.CompletedProcess(cmd, 1 if cmd[:2] == ["dpkg", "-s"] else 0, "", "")

    rows = pf.run_plan(pf.wsl_steps(tmp_path, tmp_path, run=run, which=lambda n: None), apply=True)
    apt = next(r for r in rows if r["step"].startswith("system packages"))
    assert apt["state"] == "FAILED" and "sudo: a password is required" in apt["action"]
    assert any(r["state"] == "done now" for r in rows)  # ~/.bashrc was still written


def test_persist_keeps_modes_and_fails_whole_when_storage_is_full(tmp_path):
    """~/.ssh should stay 0700 in /storage; with too little room the home folder stays as it was, no link."""
    home, storage = tmp_path / "home", tmp_path / "storage"
    (home / ".ssh").mkdir(parents=True, mode=0o700)
    (home / ".ssh").chmod(0o700)
    (home / ".ssh/id_ed25519").write_text("private key")
    pf.persist(home / ".ssh", storage / ".ssh")
    assert (home / ".ssh").is_symlink() and (storage / ".ssh").stat().st_mode & 0o777 == 0o700
    assert (home / ".ssh/id_ed25519").read_text() == "private key"
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(storage)],
                                           capture_output=True).returncode:
        pytest.skip("a nearly full /storage needs a small file system, mounted as root")
    try:
        (home / ".cache/torch").mkdir(parents=True)
        (home / ".cache/torch/weights.pth").write_bytes(os.urandom(3 * 1024**2))
        with pytest.raises(pf.EnvError, match="free space there"):
            pf.persist(home / ".cache/torch", storage / ".cache/torch")
        assert not (home / ".cache/torch").is_symlink() and (home / ".cache/torch/weights.pth").stat().st_size == 3 * 1024**2
        assert not [p for p in storage.rglob("*") if not p.is_dir()]
    finally:
        subprocess.run(["umount", str(storage)], capture_output=True)


def test_setup_says_size_time_and_the_next_commands(tmp_path):
    """setup.sh should say how big and how long before installing, install the build it chose, and end with the
    three next commands (a stand-in .venv/bin/python records what it is asked to run)."""
    import shutil

    project = tmp_path / "project"
    for rel in ("scripts/setup.sh", "src/fastcourse/env/gpu.py", "pyproject.toml", "requirements.lock"):
        (project / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / rel, project / rel)
    (project / ".venv/bin").mkdir(parents=True)
    calls = tmp_path / "calls.txt"
    (project / ".venv/bin/python").write_text(f'#!/bin/sh\necho "$@" >> {calls}\nexit 0\n')
    (project / ".venv/bin/python").chmod(0o755)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}  # no nvidia-smi here: the CPU build
    r = subprocess.run(["bash", "scripts/setup.sh"], cwd=project, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert lines[0].startswith("torch build: cpu (no NVIDIA GPU")
    assert lines[1].startswith("installing requirements.lock into .venv: about 2 GB, 3-15 minutes")
    assert [l.split("#")[0].strip() for l in lines[-3:]] == ["source .venv/bin/activate", "inv train", "inv env.doctor"]
    assert "src/fastcourse/env/gpu.py install --torch cpu --lock requirements.lock -- -e ." in calls.read_text()
