"""inv env.doctor: platform, versions, GPU, shm, disk, network, tokens, Kaggle credentials, graphviz, kernel."""

import json
import socket
from collections import namedtuple
from pathlib import Path

import pytest
from conftest import run_inv
from fakekaggle import LEGACY, SECRET

from fastcourse.env import doctor

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
                                     "down": ("127.0.0.1", closed_port), "also down": ("127.0.0.1", closed_port)},
                                    timeout=1)
    server.close()
    assert (up.name, up.status, down.name, down.status) == ("up", "ok", "network", "warn")
    assert "127.0.0.1 (down), 127.0.0.1 (also down)" in down.value  # one row, one fix, for every host down
    assert "lessons 1-2 still work offline" in down.fix


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


def test_doctor_table_puts_each_fix_below_its_check(inv, tmp_path):
    """env.doctor's table should give a warning's fix its own line, under the value, not a third column."""
    p = inv("env.doctor", "--timeout", "0.2", env={"HF_TOKEN": "", "HF_HOME": str(tmp_path / "hf")})
    lines = p.stdout.splitlines()
    row = next(i for i, line in enumerate(lines) if line.split()[:4] == ["WARN", "Hugging", "Face", "token"])
    assert lines[row + 1].strip() == "fix: needed only to deploy: hf auth login, or export HF_TOKEN=..."
    assert lines[row + 1].index("fix:") == lines[row].index("no")  # under the value column
    assert all(line.startswith(" ") for line in lines if "fix:" in line) and "fix" not in lines[0]


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


def test_kernel_check_before_and_after_registering(inv, tmp_path):
    """The doctor should warn until env.kernel registers this environment, then report the kernel."""
    env = {"JUPYTER_DATA_DIR": str(tmp_path / "jupyter"), "JUPYTER_PATH": str(tmp_path / "jupyter")}
    kernel = lambda: {c["name"]: c for c in json.loads(inv("env.doctor", "--json", "--timeout", "0.2", env=env).stdout)["checks"]}["Jupyter kernel"]
    assert kernel()["status"] == "warn" and "inv env.kernel" in kernel()["fix"]
    assert inv("env.kernel", env=env).returncode == 0
    assert kernel()["status"] == "ok" and "fastcourse" in kernel()["value"]


def test_env_doctor_with_missing_home_is_one_line(tmp_path):
    """env.doctor with FASTCOURSE_HOME pointing nowhere should say so in one line."""
    p = run_inv("env.doctor", env={"FASTCOURSE_HOME": str(tmp_path / "missing")})
    assert p.returncode == 1 and "Traceback" not in p.stderr
    assert p.stderr.strip() == f"FASTCOURSE_HOME={tmp_path / 'missing'} is not a folder — create it (mkdir -p " \
                               f"{tmp_path / 'missing'}) or unset it"


@pytest.mark.parametrize("form", ["KAGGLE_API_TOKEN", "access_token", "oauth", "legacy-env", "kaggle.json",
                                  "xdg kaggle.json", "none"])
def test_doctor_finds_every_credential_form(tmp_path, form):
    """The doctor's Kaggle row should find each form the kaggle 2.x client accepts, and never show its value."""
    env, kdir = {}, tmp_path / ".kaggle"
    kdir.mkdir()
    if form == "KAGGLE_API_TOKEN":
        env["KAGGLE_API_TOKEN"] = SECRET
    elif form == "access_token":
        (kdir / "access_token").write_text(SECRET)
    elif form == "oauth":
        (kdir / "credentials.json").write_text(json.dumps({"refresh_token": SECRET}))
    elif form == "legacy-env":
        env.update(LEGACY)
    elif form == "kaggle.json":
        (kdir / "kaggle.json").write_text(json.dumps({"username": "u", "key": SECRET}))
    elif form == "xdg kaggle.json":
        (tmp_path / ".config/kaggle").mkdir(parents=True)
        (tmp_path / ".config/kaggle/kaggle.json").write_text(json.dumps({"username": "u", "key": SECRET}))
    for f in [*kdir.iterdir(), *(tmp_path / ".config").rglob("*.json")]:
        f.chmod(0o600)
    check = doctor.check_kaggle(env, home=tmp_path)
    assert SECRET not in str(check)
    assert check.status == ("warn" if form == "none" else "ok"), check


def test_doctor_warns_about_a_readable_credentials_file(tmp_path):
    """A kaggle.json that others can read should be a warning with the chmod fix."""
    (tmp_path / ".kaggle").mkdir()
    path = tmp_path / ".kaggle/kaggle.json"
    path.write_text(json.dumps({"username": "u", "key": SECRET}))
    path.chmod(0o644)
    check = doctor.check_kaggle({}, home=tmp_path)
    assert check.status == "warn" and check.fix == f"chmod 600 {path}" and SECRET not in str(check)


def test_doctor_graphviz_row():
    """The doctor should report graphviz's dot where it is, and warn with the install line where it is not."""
    assert doctor.check_graphviz(lambda name: "/usr/bin/dot").status == "ok"
    missing = doctor.check_graphviz(lambda name: None)
    assert missing.status == "warn" and "apt-get install graphviz" in missing.fix


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


@pytest.mark.parametrize("where", ["hf-token", "kaggle.json"])
def test_credentials_saved_as_utf16_are_a_warning_row(tmp_path, where):
    """A token or kaggle.json saved as UTF-16 (Windows tools) should be one warning row naming the encoding."""
    (tmp_path / ".kaggle").mkdir()
    (tmp_path / "hf").mkdir()
    target = tmp_path / "hf/token" if where == "hf-token" else tmp_path / ".kaggle/kaggle.json"
    target.write_text('{"username": "x", "key": "y"}' if where == "kaggle.json" else "hf_abc", encoding="utf-16")
    environ = {"HOME": str(tmp_path), "HF_HOME": str(tmp_path / "hf")}
    check = doctor.check_hf_token(environ) if where == "hf-token" else doctor.check_kaggle(environ, tmp_path)
    assert check.status == "warn" and check.value == "unreadable" and "is UTF-16 text" in check.fix


def test_doctor_with_utf16_credentials_prints_no_traceback(tmp_path):
    """inv env.doctor with a UTF-16 token file should run to its table, with one warning row."""
    (tmp_path / "hf").mkdir()
    (tmp_path / "hf/token").write_text("hf_abc", encoding="utf-16")
    p = run_inv("env.doctor", "--timeout", "0.2", home=tmp_path, env={"HF_HOME": str(tmp_path / "hf"), "HF_TOKEN": None})
    assert "Traceback" not in p.stdout + p.stderr and "is UTF-16 text" in p.stdout
