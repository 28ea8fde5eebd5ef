"""inv docker.*: lint, engines (Docker or Podman), the CA bundle as a secret, the GitHub workflow."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import REPO, run_inv

from fastcourse.containers import lint as ct


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
    (ct.DOCKERFILE, 'python /tmp/gpu.py install --torch "$TORCH"', "pip install fastai gradio &&", "lock"),
    (ct.DOCKERFILE, 'ENTRYPOINT ["tini", "--"]', "", "init process"),
    (ct.DOCKERFILE, "COPY requirements.lock /tmp/requirements.lock",
     "COPY ca.crt /usr/local/share/ca-certificates/ca.crt\nCOPY requirements.lock /tmp/requirements.lock", "build secret"),
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
    """The Dockerfile should install exactly the runtime requirements.lock (as conda does) and the package."""
    from fastcourse.env import gpu

    text = (REPO / ct.DOCKERFILE).read_text()
    assert "COPY requirements.lock /tmp/requirements.lock" in text and "ARG TORCH=cu130" in text
    assert 'python /tmp/gpu.py install --torch "$TORCH"' in text and "--lock /tmp/requirements.lock" in text
    # the default build is exactly the lock, as pip and conda install it
    assert gpu.install_commands("cu130", "/tmp/requirements.lock", "python", ["--no-cache-dir"]) == [
        ["python", "-m", "pip", "install", "-r", "/tmp/requirements.lock", "--no-cache-dir"]]
    assert "- -r requirements.lock" in (REPO / "environment.yml").read_text()


def fake_engine(folder: Path, name: str, answers: bool, info: str = "{}") -> None:
    """An engine CLI that answers `info` (or says its daemon is down), for the paths without a real engine."""
    path = folder / name
    body = f"echo '{info}'; exit 0" if answers else "echo 'Cannot connect to the daemon. Is it running?' >&2; exit 1"
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)


@pytest.mark.parametrize("task", ["docker.build", "docker.up", "docker.down", "docker.test"])
@pytest.mark.parametrize("engines, message", [
    ({}, "neither docker nor podman is installed — install Docker"),
    ({"docker": False}, "docker is installed but not answering"),
    ({"podman": False}, "podman is installed but not answering"),
])
def test_docker_tasks_without_a_working_engine(tmp_path, task, engines, message):
    """Without an engine, or with one that does not answer, each docker task should say so in one line."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, answers in engines.items():
        fake_engine(bin_dir, name, answers)
    p = run_inv(task, home=tmp_path, env={"PATH": f"{bin_dir}:{Path(os.sys.executable).parent}"})
    assert p.returncode == 1 and "Traceback" not in p.stderr
    assert message in p.stderr and "Podman" in p.stderr and len(p.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("choice, present, chosen", [(None, {"docker", "podman"}, "docker"),
                                                     (None, {"podman"}, "podman"),
                                                     ("podman", {"docker", "podman"}, "podman")])
def test_engine_detection(choice, present, chosen):
    """The engine should be docker when both exist, podman otherwise, or the one --engine names."""
    from fastcourse.containers import engines as en

    assert en.find(choice, which=lambda n: n if n in present else None) == chosen


def test_engine_choice_errors():
    """An unknown --engine, or a named one that is missing, should be a one-line error naming both engines."""
    from fastcourse.containers import engines as en
    from fastcourse.errors import UserError

    with pytest.raises(UserError, match="not one of docker, podman"):
        en.find("lxc")
    with pytest.raises(UserError, match="the podman command is installed|Podman"):
        en.find("podman", which=lambda n: None)


@pytest.mark.parametrize("engine, stdout, cdi, message", [
    ("docker", '{"Runtimes": {"runc": {}}}', False, "no NVIDIA runtime"),
    ("podman", "{}", False, "nvidia-ctk cdi generate"),
])
def test_gpu_route_checked_per_engine(monkeypatch, engine, stdout, cdi, message):
    """--gpu should need Docker's NVIDIA runtime, or a CDI spec for Podman (faked: no GPU host here)."""
    from fastcourse.containers import engines as en
    from fastcourse.errors import UserError

    monkeypatch.setattr(en, "CDI_SPECS", ())
    run = lambda *a, **k: subprocess.CompletedProcess(a, 0, stdout, "")  # noqa: E731
    with pytest.raises(UserError, match=message):
        en.check(engine, gpu=True, run=run)
    assert en.gpu_args(engine) == (["--gpus", "all"] if engine == "docker" else ["--device", "nvidia.com/gpu=all"])
    assert en.compose(engine) == [engine, "compose"]


def test_ca_bundle_is_a_build_secret_never_a_layer(tmp_path):
    """--ca-bundle should become a build secret; the Dockerfile mounts it for pip only, and copies no certificate."""
    from fastcourse.containers import engines as en
    from fastcourse.errors import UserError

    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    cmd = en.build_command("podman", REPO / ct.DOCKERFILE, "t", REPO, base="b", ca_bundle=ca)
    assert ["--secret", f"id=pip_cert,src={ca}"] == cmd[cmd.index("--secret"):cmd.index("--secret") + 2]
    assert "BASE=b" in cmd and cmd[-1] == str(REPO)
    text = (REPO / ct.DOCKERFILE).read_text()
    assert "--mount=type=secret,id=pip_cert" in text and "PIP_CERT" not in text.split("ENV ")[1].split("\n\n")[0]
    with pytest.raises(UserError, match="no such file"):
        en.build_command("docker", REPO / ct.DOCKERFILE, "t", REPO, ca_bundle=tmp_path / "missing.pem")


def test_healthcheck_command_is_read_from_the_dockerfile():
    """docker.test runs the image's own HEALTHCHECK command, read from the Dockerfile."""
    from fastcourse.containers import engines as en

    cmd = en.healthcheck_command(REPO / ct.DOCKERFILE)
    assert cmd[0] == "python" and "http://127.0.0.1:8888/api" in cmd[-1]


def test_podman_gpu_override_uses_cdi():
    """The Podman GPU override should hand over the GPUs as CDI devices."""
    import yaml

    lab = yaml.safe_load((REPO / ct.COMPOSE_CDI).read_text())["services"]["lab"]
    assert lab["devices"] == ["nvidia.com/gpu=all"]


@pytest.mark.parametrize("broken", [False, True])
def test_github_workflow_validates_offline(tmp_path, broken):
    """.github/workflows/ci.yml should pass check-jsonschema's vendored GitHub workflow schema; a broken one fails."""
    import sys

    workflow = REPO / ".github/workflows/ci.yml"
    text = workflow.read_text()
    assert "bash scripts/setup.sh --dev && .venv/bin/python -m pytest" in text and "nb.run --smoke" in text
    assert "cache: pip" in text
    if broken:
        workflow = tmp_path / "ci.yml"
        workflow.write_text(text.replace("runs-on:", "runs_on:"))
    cli = Path(sys.executable).parent / "check-jsonschema"
    r = subprocess.run([str(cli), "--builtin-schema", "vendor.github-workflows", str(workflow)],
                       capture_output=True, text=True, timeout=120)
    assert (r.returncode != 0) is broken, r.stdout + r.stderr
