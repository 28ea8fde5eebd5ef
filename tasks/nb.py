"""Notebooks: run ours headlessly, export app.py, fetch and patch the official course22 notebooks, JupyterLab.

    inv nb.run [-p key=value ...] [--smoke] [-- NOTEBOOK ...]   (default: all of notebooks/)
    inv nb.export NOTEBOOK [--to PATH]
    inv nb.course [--dest course22] [--ref REF]       (--check [--from PATH]: execute all eleven on stand-ins)
    inv nb.patch PATH [--no-backup]                      (more paths after `--`)
    inv nb.lab [--port 8888]
    inv nb.colab [--port 8888]                           (Colab: Connect to a local runtime)
"""

import ast
import secrets
from pathlib import Path

from fastcourse.console import table
from fastcourse.errors import NotebookError, OptionError
from fastcourse.nb import course as nbc, patch as nbpatch, run as nbs
from fastcourse.paths import project_root

from ._opts import number, paths_after, task


def _value(text: str):
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


@task(name="run", default=True, iterable=["param"], optional=["notebook"], help={
    "notebook": "notebook to run (default: all of notebooks/); or list them after `--`",
    "param": "papermill parameter key=value (repeatable), e.g. -p epochs=2",
    "smoke": "quick mode (smoke=True): tiny epochs and sizes, in a scratch project (your data/ and models/ "
             "are never touched), for CI",
    "timeout": f"seconds one cell may run before the notebook is stopped (default {nbs.CELL_TIMEOUT})"})
def run(c, notebook=None, param=None, smoke=False, timeout=str(nbs.CELL_TIMEOUT)):
    """Execute notebooks with papermill into build/notebooks/ (+ HTML) and print a summary table."""
    paths = [Path(p) for p in paths_after(c, notebook)] or nbs.default_notebooks()
    params = {}
    for kv in param or []:
        if "=" not in kv:
            raise OptionError(f"-p {kv!r} is not key=value — e.g. -p epochs=2")
        k, v = kv.split("=", 1)
        params[k.strip()] = _value(v.strip())
    if smoke:
        params["smoke"] = True
    timeout = number(float, "timeout", timeout, 1, 7 * 86_400)
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise NotebookError(f"no such notebook: {', '.join(missing)} — see notebooks/")
    out, home = nbs.out_dir(), project_root()
    if smoke:
        import tempfile

        home = Path(tempfile.mkdtemp(prefix="fastcourse-smoke-"))
        print(f"smoke mode: a scratch project in {home} (your data/ and models/ are not touched)", flush=True)
    rows = [nbs.run_notebook(p.resolve(), out, params, home, timeout) for p in paths]
    print(table(rows, ["notebook", "status", "duration", "failing cell"]))
    failed = [r for r in rows if r["status"] != "ok"]
    if failed:
        raise NotebookError("; ".join(f"{r['notebook']} failed at {r['failing cell']}" for r in failed)
                   + f" — the executed copies with the error are in {out}")
    print(f"executed notebooks and HTML: {out}")


@task(help={"notebook": "notebook with #|export cells", "to": "script to write (default: app.py beside the notebook)"})
def export(c, notebook, to=None):
    """Export a notebook's #|export cells to a script with nbdev (lesson 2's app.py)."""
    nb = Path(notebook)
    if not nb.is_file():
        raise NotebookError(f"no such notebook: {nb} — give the path of an .ipynb file")
    nbs.read_notebook(nb)
    out = nbs.export_script(nb, Path(to) if to else None)
    print(f"exported {nb} -> {out}")


@task(positional=["path"], help={"path": "a notebook or a folder of notebooks (more after `--`)",
                                 "no_backup": "do not keep NAME.orig.ipynb copies"})
def patch(c, path, no_backup=False):
    """Make official course notebooks run outside Kaggle (idempotent; reports what changed)."""
    found = nbpatch.notebooks_in(paths_after(c, path))
    if not found:
        raise NotebookError(f"no notebooks under {path} — give a .ipynb file or a folder holding some")
    pins = nbpatch.pinned_packages()
    bad = []
    for nb in found:  # one malformed notebook does not stop the others
        try:
            notes = nbpatch.patch_notebook(nb, backup=not no_backup, pins=pins)
        except NotebookError as e:
            bad.append(nb.name)
            print(f"{nb}: SKIPPED — {e}")
            continue
        print(f"{nb}: {'unchanged' if not notes else f'{len(notes)} change(s)'}")
        for n in notes:
            print(f"  - {n}")
    if bad:
        raise NotebookError(f"{len(bad)} notebook(s) could not be patched ({', '.join(bad)}; see above) — "
                            "the others were patched")


@task(help={"dest": "folder for the notebooks (default course22)",
            "ref": "branch, tag or commit (default: the repository's default branch, master for course22)",
            "repo": "git URL of the course notebooks (default: fast.ai's course22 on GitHub)",
            "check": "execute all eleven notebooks on local stand-ins (scratch HOME, no network, cut training) "
                     "and print a row per notebook; exits non-zero when one fails for a reason other than a "
                     "named missing prerequisite",
            "from_": "with --check: the course22 copy to check (default: DEST, as inv nb.course fetched it)",
            "only": "with --check: only these notebooks, by number, e.g. 05 or 00,02,05",
            "timeout": "with --check: seconds one cell may run (default 900)",
            "full": "with --check: no cuts and full-size architectures, as a learner runs them (a GPU's work: "
                    "09 and 10 take hours on a CPU)"})
def course(c, dest="course22", ref=None, repo=nbc.COURSE_REPO, check=False, from_=None, only="", timeout="900",
           full=False):
    """Clone or update fast.ai's official course22 notebooks and patch them to run here (--check: execute them)."""
    dest_path = project_root() / dest
    if check:
        _check_course(Path(from_) if from_ else dest_path, only, number(float, "timeout", timeout, 10), full)
        return
    print(nbc.clone_course(dest_path, ref or None, repo))
    patch(c, str(dest_path))


def _check_course(source: Path, only: str, timeout: float, full: bool = False) -> None:
    """Run the course check and print its table; NotebookError when a notebook failed for the kit's reasons."""
    import time

    from fastcourse.nb.check import run_check

    start = time.monotonic()
    out = project_root() / "build" / "course-check"
    rows = run_check(source, out, timeout, only, full)
    print(table(rows, ["notebook", "cells", "seconds", "result"]))
    failed = [r for r in rows if r["result"] != "ok" and not r["prerequisite"]]
    done = sum(r["result"] == "ok" for r in rows)
    print(f"{done}/{len(rows)} notebooks ran to their last cell in {time.monotonic() - start:.0f} s "
          f"({'full sizes' if full else 'check mode'}: local stand-ins"
          f"{'' if full else ', cut training'}); executed copies in {out}")
    for r in rows:
        if r["prerequisite"]:
            print(f"{r['notebook']}: {r['prerequisite']}")
    if failed:
        raise NotebookError(f"{len(failed)} notebook(s) failed: " + "; ".join(f"{r['notebook']} {r['result']}"
                                                                           for r in failed))


def _serve(port: str, command, banner: str) -> None:
    """Register the kernel, start the server as a child (Ctrl-C and SIGTERM reach it), and print how to connect
    as the last line once it answers — not before its start-up log, where it would scroll away."""
    from fastcourse.fileio import run_child

    port = number(int, "port", port, 1, 65535)
    display = nbs.register_kernel()
    token = secrets.token_urlsafe(24)
    print(f"kernel '{nbs.KERNEL}' registered as {display!r}; starting the server ...", flush=True)
    cmd = command(port, token, nbs.notebook_dir())
    code = run_child(cmd, on_start=lambda proc: nbs.announce(proc, port, banner.format(port=port, token=token)))
    if code not in (0, -15, 130):
        raise NotebookError(f"the Jupyter server exited with {code} — read its messages above")


@task(help={"port": "port on 127.0.0.1 (default 8888)"})
def lab(c, port="8888"):
    """JupyterLab in notebooks/ on 127.0.0.1 with a token, and this environment's kernel registered."""
    _serve(port, nbs.lab_command, "JupyterLab: http://127.0.0.1:{port}/lab?token={token}")


@task(help={"port": "port on 127.0.0.1 (default 8888)"})
def colab(c, port="8888"):
    """Serve this environment to Google Colab ("Connect to a local runtime"); prints the URL to paste."""
    _serve(port, nbs.colab_command, "In Colab: Connect -> Connect to a local runtime, and paste:\n"
                                    "http://127.0.0.1:{port}/?token={token}")
