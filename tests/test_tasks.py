"""Every task through the one boundary: bad options and names, `--` paths, concurrent writers, bugs that keep their traceback."""

import os
import subprocess
from pathlib import Path
import sys

import pytest
from conftest import REPO, closed_port_url, offline_env, run_inv
from helpers import changed_outside, snapshot

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


@pytest.mark.parametrize("args, line", [
    (["trian"], "No idea what 'trian' is — did you mean 'train'? (inv --list shows them all)"),
    (["data.serch", "birds"], "No idea what 'data.serch' is — did you mean 'data.search'? (inv --list shows them all)"),
    (["zzzz"], "No idea what 'zzzz' is — (inv --list shows them all)"),
    (["train", "--epoch", "3"], "No idea what '--epoch' is — did you mean '--epochs'? (inv train -h shows them all)"),
    (["train", "--bogus"], "No idea what '--bogus' is — (inv train -h shows them all)"),
    (["predict", "--modle", "m", "a.png"], "No idea what '--modle' is — did you mean '--model'? (inv predict -h shows them all)"),
    (["predict", "a.png", "--modle", "m"], "No idea what '--modle' is — did you mean '--model'? (inv predict -h shows them all)"),
    (["app", "--port", "abc"], "--port 'abc' is not a whole number — use a value from 1 to 65535"),
    (["train", "--lr", "fast"], "--lr 'fast' is not a number — use a number like 0.5"),
    (["deploy"], "inv deploy needs --space (the Space to create or update, as USER/NAME) — inv deploy -h shows every option"),
    (["data.clean"], "inv data.clean needs --name (dataset name (data/NAME)) — inv data.clean -h shows every option"),
    (["nb.patch"], "inv nb.patch needs a PATH (a notebook or a folder of notebooks (more after `--`)) — inv nb.patch -h "
                   "shows every option"),
    (["app"], "{home}/models/digits/model.json not found — train a model first (inv train) or pass --model models/NAME"),
])
def test_misspelt_tasks_and_options_name_the_closest(inv, tmp_path, args, line):
    """A misspelt task or option, or a missing one, should be one line naming the closest real one (or what is
    missing and where the list is), exit 1, and write and announce nothing."""
    before = snapshot(tmp_path)
    p = inv(*args, home=tmp_path)
    assert (p.returncode, p.stderr.strip()) == (1, line.format(home=tmp_path))
    assert snapshot(tmp_path) == before and not p.stdout.strip()


def test_expected_failures_become_one_line():
    """one_line should cover UserError, the file system's answers and Ctrl-C, and leave a bug to its traceback."""
    import errno

    from fastcourse.errors import INTERRUPTED, DataError, one_line

    assert one_line(DataError("x failed — do y")) == "x failed — do y"
    for code in (errno.ENOSPC, errno.EROFS, errno.EACCES, errno.ENOENT, errno.EDQUOT):
        line = one_line(OSError(code, os.strerror(code), "/data/x"))
        assert line.startswith(f"{os.strerror(code)}: /data/x — ") and "\n" not in line
    assert one_line(KeyboardInterrupt()) == INTERRUPTED
    assert one_line(OSError(errno.ECONNRESET, "reset")) is None and one_line(KeyError("bug")) is None


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


@pytest.fixture
def read_only(tmp_path):
    """Make a folder read-only as a file system would be: a read-only bind mount as root (EROFS), else
    permissions (EACCES); undone afterwards."""
    made = []

    def make(folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            for cmd in (["mount", "--bind", str(folder), str(folder)],
                        ["mount", "-o", "remount,ro,bind", str(folder)]):
                if subprocess.run(cmd, capture_output=True).returncode:
                    pytest.skip("root, but bind mounts are not allowed here: cannot make a folder read-only")
            made.append(("umount", folder))
        else:
            folder.chmod(0o555)
            made.append(("chmod", folder))
        return folder

    yield make
    for how, folder in made:
        subprocess.run(["umount", str(folder)]) if how == "umount" else folder.chmod(0o755)


@pytest.mark.parametrize("args, where", [(["data.embedded"], "data"), (["train", "--epochs", "1"], "models"),
                                         (["app.bundle", "--model", "models/good"], "build")])
def test_a_read_only_folder_is_one_line(tmp_path, read_only, args, where):
    """A read-only data/, models/ or build/ should end the task in one line naming the folder and the fix."""
    from helpers import tiny_classifier

    tiny_classifier(tmp_path / "models/good")
    read_only(tmp_path / where)
    p = run_inv(*args, home=tmp_path, env=offline_env(tmp_path / "torch"), timeout=300)
    assert p.returncode == 1 and "Traceback" not in p.stderr, p.stderr[-2000:]
    last = p.stderr.strip().splitlines()[-1]
    assert str(tmp_path / where) in last and ("read-only file system" in last or "permissions" in last), last


@pytest.mark.parametrize("args", [["deploy", "-h"], ["--list"], ["env.doctor", "--timeout", "0.1"]])
def test_a_closed_pipe_ends_quietly(tmp_path, args):
    """Output into a pipe nobody reads (`inv deploy -h | head`) should end without a traceback."""
    r, w = os.pipe()
    os.close(r)  # the reader is gone before the first write: every write fails with EPIPE
    env = {**os.environ, "FASTCOURSE_HOME": str(tmp_path)}
    p = subprocess.run([sys.executable, "-m", "invoke", "-r", str(REPO), *args], stdout=w, stderr=subprocess.PIPE,
                       text=True, env=env, cwd=tmp_path, timeout=120)
    os.close(w)
    assert "Traceback" not in p.stderr and "BrokenPipe" not in p.stderr, p.stderr
