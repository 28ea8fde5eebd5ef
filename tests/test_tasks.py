"""Every task through the one boundary: bad options and names, `--` paths, concurrent writers, bugs that keep their traceback."""

import os
import subprocess
import sys

import pytest
from conftest import REPO, closed_port_url, run_inv
from helpers import changed_outside, setup_project, snapshot

from fastcourse.data import embedded
from fastcourse.fileio import folder_lock


def test_every_task_documented():
    """Every task should have a one-line summary and help text for each option."""
    from tasks import ns

    tasks = {name: ns[name] for name in ns.task_names}
    assert tasks
    for name, t in tasks.items():
        assert (t.__doc__ or "").strip(), f"{name} has no docstring"
        for arg in t.get_arguments():
            assert arg.help, f"{name} --{arg.name} has no help"


@pytest.mark.parametrize("args", [["train", "--epochs", "x"], ["predict", "a.png", "--bs", "many"],
                                  ["app", "--port", "p"], ["env.doctor", "--timeout", "soon"],
                                  ["data.clean", "--name", "d", "--top", "t"]])
def test_bad_numbers_are_one_line_errors(inv, tmp_path, args):
    """A non-numeric value for a numeric option should name the option in one line, not a traceback."""
    p = inv(*args, home=tmp_path)
    assert p.returncode != 0
    assert p.stderr.strip().startswith(f"--{args[-2].lstrip('-')} ") and "Traceback" not in p.stderr


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
    assert changed_outside(before, snapshot(tmp_path), *([owns] if owns else [])) == set()


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
    assert changed_outside(before, snapshot(tmp_path), lock) == set()


def test_paths_after_double_dash_keep_spaces(tmp_path):
    """Paths after `--` should reach the task whole, spaces included."""
    a, b = tmp_path / "my notebooks/a b.ipynb", tmp_path / "c d.ipynb"
    p = run_inv("nb.run", "--", str(a), str(b), home=tmp_path)
    assert p.returncode == 1 and p.stderr.strip() == f"no such notebook: {a}, {b} — see notebooks/"


def test_unexpected_errors_keep_their_traceback(tmp_path):
    """A bug (not a UserError) should still show its traceback: tasks do not swallow every exception."""
    code = ("import sys; sys.argv=['inv']; sys.path.insert(0, %r)\n"
            "from tasks._opts import task\n"
            "@task\n"
            "def boom(c):\n    raise KeyError('bug')\n"
            "boom.body(None)\n") % str(REPO)
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert p.returncode == 1 and "Traceback" in p.stderr and "KeyError" in p.stderr
