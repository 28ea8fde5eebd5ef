"""Issue 7: container files (hadolint + structure), docker tasks without an engine, WSL and Paperspace setup."""

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from fastcourse import containers as ct, platforms as pf
from conftest import REPO, run_inv


def test_docker_lint_passes():
    """inv docker.lint (hadolint + compose + devcontainer checks) should pass on the repository's files."""
    p = run_inv("docker.lint")
    assert p.returncode == 0, p.stdout + p.stderr
    assert ct.lint_all() == {f: [] for f in (ct.DOCKERFILE, ct.COMPOSE, ct.COMPOSE_GPU, ct.DEVCONTAINER)}


@pytest.fixture
def copy(tmp_path):
    for f in (ct.DOCKERFILE, ct.COMPOSE, ct.COMPOSE_GPU, ct.DEVCONTAINER):
        (tmp_path / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / f, tmp_path / f)
    return tmp_path


@pytest.mark.parametrize("file,old,new,problem", [
    (ct.DOCKERFILE, "USER 1000:1000", "USER root", "final USER must not be root"),
    (ct.DOCKERFILE, "pip install --no-cache-dir -r /tmp/requirements.lock", "pip install fastai gradio", "lock"),
    (ct.DOCKERFILE, 'ENTRYPOINT ["tini", "--"]', "", "init process"),
    (ct.COMPOSE, '"127.0.0.1:8888:8888"', '"8888:8888"', "all interfaces"),
    (ct.COMPOSE, "shm_size: 2gb", "shm_size: 64mb", "under 2 GB"),
    (ct.COMPOSE, "JUPYTER_TOKEN:", "NOT_A_TOKEN:", "without a token"),
    (ct.COMPOSE, "caches:/home/learner/.cache", "caches:/tmp/x", "caches"),
    (ct.COMPOSE_GPU, "driver: nvidia", "driver: none", "NVIDIA"),
    (ct.DEVCONTAINER, '"gpu": "optional"', '"gpu": true', "optional"),
    (ct.DEVCONTAINER, '"dockerfile": "../docker/Dockerfile"', '"dockerfile": "Dockerfile"', "docker/Dockerfile"),
    (ct.DEVCONTAINER, '"inv env.doctor"', '"true"', "env.doctor"),
])
def test_structure_checks_catch_regressions(copy, file, old, new, problem):
    """Each structural rule should flag a container file that breaks it."""
    path = copy / file
    assert old in path.read_text()
    path.write_text(path.read_text().replace(old, new))
    found = ct.lint_all(copy)[file]
    assert any(problem in p for p in found), found


def test_image_installs_the_same_lock():
    """The Dockerfile should install exactly requirements.lock (the file pip and conda use) and the package."""
    text = (REPO / ct.DOCKERFILE).read_text()
    assert "COPY requirements.lock /tmp/requirements.lock" in text
    assert "pip install --no-cache-dir -r /tmp/requirements.lock" in text
    assert "- -r requirements.lock" in (REPO / "environment.yml").read_text()


@pytest.mark.parametrize("task", ["docker.build", "docker.up", "docker.down"])
@pytest.mark.parametrize("path", ["no-docker-cli", "inherited"])
def test_docker_tasks_without_engine(tmp_path, task, path):
    """Without a Docker engine (or CLI) each docker task should exit non-zero saying what to install."""
    env = {"PATH": str(Path(os.sys.executable).parent)} if path == "no-docker-cli" else {}
    if path == "inherited" and shutil.which("docker") and subprocess.run(["docker", "info"], capture_output=True).returncode == 0:
        pytest.skip("a Docker engine runs here")
    p = run_inv(task, home=tmp_path, env=env)
    assert p.returncode != 0
    assert "Docker" in p.stderr and "NVIDIA Container Toolkit" in p.stderr and "Traceback" not in p.stderr


def snapshot(root: Path) -> dict:
    """Every path under root: link target or content hash."""
    out = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        out[rel] = ("link", os.readlink(p)) if p.is_symlink() else (
            "file", hashlib.sha256(p.read_bytes()).hexdigest()) if p.is_file() else ("dir",)
    return out


@pytest.fixture
def course_repo(tmp_path):
    """A local git repository standing in for fast.ai's course22 on GitHub."""
    src = tmp_path / "upstream"
    src.mkdir()
    (src / "00-is-it-a-bird.ipynb").write_text(json.dumps(
        {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(src)]
    for cmd in (["init", "-q", "-b", "main"], ["add", "."], ["commit", "-qm", "course"]):
        subprocess.run(git + cmd, check=True)
    return f"file://{src}"


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
    assert (root / "notebooks/course22/00-is-it-a-bird.ipynb").exists()
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
        if cmd[:3] == ["sudo", "apt-get", "install"]:
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
    assert sum(c[:2] == ["sudo", "apt-get"] for c in calls) == 1
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
