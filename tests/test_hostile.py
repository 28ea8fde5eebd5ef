"""Issue 12: hostile input, task by task. Each row: the invocation, its one-line message, its exit code,
no traceback, and nothing outside the task's own folder changed."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from conftest import REPO, closed_port_url, free_port, run_inv
from fastcourse import embedded
from fastcourse.util import folder_lock


def snapshot(root: Path) -> dict:
    """Every file under `root` with its size and mtime."""
    return {p.relative_to(root).as_posix(): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in root.rglob("*") if p.is_file()}


def png(path: Path, size=(32, 32), color=(200, 10, 10)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(path)
    return path


def bomb(path: Path) -> Path:
    """A small PNG that decodes to 400 million pixels."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("1", (20000, 20000)).save(path)
    return path


def fake_model(folder: Path, spec: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.json").write_text(json.dumps(spec))
    (folder / "model.onnx").write_bytes(b"\0")


def bad_notebook(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('{"cells": 3')
    return path


def setup_project(home: Path) -> None:
    """What a learner's project holds before the hostile command: data, a model, a bundle, notebooks."""
    embedded.write_digits(home)
    (home / "data/keep/notes.txt").parent.mkdir(parents=True)
    (home / "data/keep/notes.txt").write_text("mine")
    fake_model(home / "models/nolabels", {"size": [32, 32]})
    png(home / "few/a/1.png"), png(home / "few/b/1.png")
    png(home / "emptyclass/a/1.png"), png(home / "emptyclass/a/2.png"), (home / "emptyclass/b").mkdir()
    (home / "emptyclass/b/readme.txt").write_text("not an image")
    bomb(home / "inputs/bomb.png")
    bad_notebook(home / "nbs/broken.ipynb")
    (home / "urls/bin.txt").parent.mkdir()
    (home / "urls/bin.txt").write_bytes(b"\xff\xfe\x00binary")
    clean = home / "data/digits/clean"
    clean.mkdir()
    (clean / "decisions.csv").write_text("file,verdict\n0001.png,delete\n")


# (args, env, expected message, exit code, folder the task may change or None)
ROWS = [
    (["train", "--name", ".."], {}, "--name '..' is not a plain name", 1, None),
    (["train", "--name", ""], {}, "--name '' is not a plain name", 1, None),
    (["train", "--name", "a/b"], {}, "--name 'a/b' is not a plain name", 1, None),
    (["train", "--size", "1"], {}, "--size 1 is out of range", 1, None),
    (["train", "--bs", "0"], {}, "--bs 0 is out of range", 1, None),
    (["train", "--epochs", "x"], {}, "--epochs 'x' is not a whole number", 1, None),
    (["train", "--arch", "resnet"], {}, "--arch resnet:", 1, None),
    (["train", "--machines", "2"], {}, "--machines 2 needs --main-ip", 1, None),
    (["train", "--data", "few", "--name", "few"], {}, "too few readable images", 1, "models"),
    (["train", "--data", "emptyclass", "--name", "e"], {}, "class folder(s) b hold no images", 1, "models"),
    (["train", "--data", "nowhere"], {}, "--data nowhere: no such folder", 1, "models"),
    (["predict", "inputs/bomb.png", "--model", "models/nolabels"], {}, "lacks classes", 1, None),
    (["app", "--port", "99999"], {}, "--port 99999 is out of range", 1, None),
    (["app", "--model", "models/nolabels"], {}, "lacks classes", 1, None),
    (["app.bundle", "--name", "../../data"], {}, "is not a plain name", 1, None),
    (["data.fetch", "--name", "x", "--workers", "0"], {}, "--workers 0 is out of range", 1, None),
    (["data.fetch", "--name", "x", "--max-size", "0"], {}, "--max-size 0 is out of range", 1, None),
    (["data.fetch", "--name", "..", "--urls", "urls"], {}, "--name '..' is not a plain name", 1, None),
    (["data.fetch", "--name", "x", "--urls", "urls/bin.txt"], {}, "not a text file", 1, None),
    (["data.search", "--name", "b", "--categories", "a", "--queries", "{} {}"], {}, "exactly one {}", 1, None),
    (["data.search", "--name", "b", "--categories", "../up"], {}, "cannot be a folder name", 1, None),
    (["data.clean", "--name", ".."], {}, "--name '..' is not a plain name", 1, None),
    (["data.clean", "--name", "digits", "--apply"], {}, "lacks the column(s) action, new_category, path", 1,
     "data/digits"),
    (["data.embedded", "--classes", "3,x"], {}, "no such digit", 1, None),
    (["nb.run", "nbs/broken.ipynb"], {}, "not a valid notebook", 1, "build/notebooks"),
    (["nb.patch", "nbs"], {}, "could not be patched", 1, None),
    (["nb.run", "-p", "novalue"], {}, "is not key=value", 1, None),
    (["deploy", "--space", "me/x", "--model", "models/nolabels"], {"HF_TOKEN": "hf_x"}, "lacks classes", 1,
     None),
    (["deploy", "--space", "not a space"], {}, "must look like USER/NAME", 1, None),
    (["env.doctor", "--timeout", "0"], {}, "--timeout 0 is out of range", 1, None),
]


@pytest.mark.parametrize("args, env, message, code, owns", ROWS, ids=[" ".join(r[0]) or "-" for r in ROWS])
def test_hostile_input_is_one_line(tmp_path, args, env, message, code, owns):
    """A hostile invocation should exit with its one-line message, no traceback, nothing outside its folder changed."""
    setup_project(tmp_path)
    before = snapshot(tmp_path)
    p = run_inv(*args, home=tmp_path, env=env, timeout=300)
    assert p.returncode == code, p.stdout[-1500:] + p.stderr[-1500:]
    assert "Traceback" not in p.stdout + p.stderr
    last = p.stderr.strip().splitlines()
    assert last and message in last[-1], p.stderr[-1500:]
    after = snapshot(tmp_path)
    changed = {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
    assert {k for k in changed if not (owns and k.startswith(owns + "/"))} == set()


def test_env_doctor_with_missing_home_is_one_line(tmp_path):
    """env.doctor with FASTCOURSE_HOME pointing nowhere should say so in one line."""
    p = run_inv("env.doctor", env={"FASTCOURSE_HOME": str(tmp_path / "missing")})
    assert p.returncode == 1 and "Traceback" not in p.stderr
    assert p.stderr.strip() == f"FASTCOURSE_HOME={tmp_path / 'missing'} is not a folder — create it (mkdir -p " \
                               f"{tmp_path / 'missing'}) or unset it"


@pytest.mark.slow
def test_deploy_to_unreachable_endpoint_is_one_line(trained):
    """deploy to a Hub that refuses connections should be one line naming the endpoint; the token never shown."""
    home, _ = trained
    endpoint = closed_port_url()
    p = run_inv("deploy", "--space", "me/x", home=home,
                env={"HF_TOKEN": "hf_secretvalue123", "HF_ENDPOINT": endpoint, "HF_HUB_OFFLINE": None})
    assert p.returncode == 1 and "Traceback" not in p.stderr and len(p.stderr.strip().splitlines()) == 1
    assert f"could not reach the Hugging Face Hub at {endpoint}" in p.stderr
    assert "hf_secretvalue123" not in p.stdout + p.stderr


@pytest.mark.parametrize("task, lock, args", [
    ("data.fetch", "data/x/.lock", ["data.fetch", "--name", "x", "--urls", "urls/one.txt"]),
    ("data.embedded", "data/digits/.lock", ["data.embedded"]),
    ("train", "models/.digits.lock", ["train", "--epochs", "1"]),
    ("data.clean", "data/digits/.lock", ["data.clean", "--name", "digits", "--apply"]),
])
def test_second_writer_fails_clearly(tmp_path, task, lock, args):
    """While another process writes the same dataset or model, a second writer should fail at once, in one line."""
    (tmp_path / "urls").mkdir()
    (tmp_path / "urls/one.txt").write_text(f"{closed_port_url()}/a.jpg\n")
    embedded.write_digits(tmp_path)
    (tmp_path / "data/digits/clean").mkdir()
    (tmp_path / "data/digits/clean/decisions.csv").write_text("path,action,new_category\n")
    before = snapshot(tmp_path)
    with folder_lock(tmp_path / lock, "test"):
        p = run_inv(*args, home=tmp_path, timeout=300)
    assert p.returncode == 1 and "Traceback" not in p.stderr
    assert f"is being written by another fastcourse process (pid {os.getpid()})" in p.stderr
    assert {k for k, v in snapshot(tmp_path).items() if before.get(k) != v} <= {lock}


def test_paths_after_double_dash_keep_spaces(tmp_path):
    """Paths after `--` should reach the task whole, spaces included."""
    a, b = tmp_path / "my notebooks/a b.ipynb", tmp_path / "c d.ipynb"
    p = run_inv("nb.run", "--", str(a), str(b), home=tmp_path)
    assert p.returncode == 1 and p.stderr.strip() == f"no such notebook: {a}, {b} — see notebooks/"


@pytest.mark.slow
def test_predict_paths_with_spaces(trained, tmp_path):
    """predict should take image paths with spaces, positionally and after `--`."""
    import shutil

    home, _ = trained
    src = sorted((home / "data/digits/images/7").glob("*.png"))[0]
    a, b = tmp_path / "my photos/a b.png", tmp_path / "c d.png"
    a.parent.mkdir()
    shutil.copy(src, a), shutil.copy(src, b)
    p = run_inv("predict", str(a), "--json", "--", str(b), home=home)
    assert p.returncode == 0, p.stderr
    assert [json.loads(l)["path"] for l in p.stdout.splitlines()] == [str(a), str(b)]


def test_nb_run_takes_a_positional_path(tmp_path):
    """inv nb.run PATH should take PATH as the notebook, as users type it."""
    p = run_inv("nb.run", str(tmp_path / "x.ipynb"), home=tmp_path)
    assert p.returncode == 1 and p.stderr.strip() == f"no such notebook: {tmp_path / 'x.ipynb'} — see notebooks/"


def test_bundle_name_cannot_reach_outside_build_space(tmp_path):
    """app.bundle --name with separators should be refused before anything is removed."""
    (tmp_path / "data/precious").mkdir(parents=True)
    (tmp_path / "data/precious/x.txt").write_text("keep")
    for name in ("../../data", "../space2", "/abs", "."):
        p = run_inv("app.bundle", "--name", name, home=tmp_path)
        assert p.returncode == 1 and "is not a plain name" in p.stderr
    assert (tmp_path / "data/precious/x.txt").read_text() == "keep"


def test_inside_guard_refuses_paths_outside_owner(tmp_path):
    """remove_tree should refuse a target outside its owner, or the owner itself, and remove one inside."""
    from fastcourse.errors import UserError, remove_tree

    owner = tmp_path / "build/space"
    (owner / "ok").mkdir(parents=True)
    (tmp_path / "data").mkdir()
    for target in (owner / "../../data", owner, owner / ".."):
        with pytest.raises(UserError, match="not inside"):
            remove_tree(target, owner)
    assert (tmp_path / "data").exists()
    remove_tree(owner / "ok", owner)
    assert not (owner / "ok").exists()


def test_lab_port_out_of_range(tmp_path):
    """nb.lab --port 0 should be refused in one line before JupyterLab starts."""
    p = run_inv("nb.lab", "--port", "0", home=tmp_path, env={"JUPYTER_DATA_DIR": str(tmp_path / "j")})
    assert p.returncode == 1 and p.stderr.strip() == "--port 0 is out of range — use a value from 1 to 65535"


def test_free_port_helper_sanity():
    """free_port should give a port nothing listens on (the closed-port forcing relies on it)."""
    import socket

    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", free_port()), timeout=1)


def test_unexpected_errors_keep_their_traceback(tmp_path):
    """A bug (not a UserError) should still show its traceback: tasks do not swallow every exception."""
    code = ("import sys; sys.argv=['inv']; sys.path.insert(0, %r)\n"
            "from tasks._opts import task\n"
            "@task\n"
            "def boom(c):\n    raise KeyError('bug')\n"
            "boom.body(None)\n") % str(REPO)
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert p.returncode == 1 and "Traceback" in p.stderr and "KeyError" in p.stderr
