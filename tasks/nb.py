"""Notebooks: run ours headlessly, export app.py, fetch and patch the official course22 notebooks, JupyterLab.

    inv nb.run [-p key=value ...] [--smoke] [-- NOTEBOOK ...]   (default: all of notebooks/)
    inv nb.export NOTEBOOK [--to PATH]
    inv nb.course [--dest course22] [--ref main]
    inv nb.patch PATH [--no-backup]                      (more paths after `--`)
    inv nb.lab [--port 8888]
    inv nb.colab [--port 8888]                           (Colab: Connect to a local runtime)
"""

import ast
import os
import secrets
import sys
from pathlib import Path

from fastcourse.console import table
from fastcourse.errors import NotebookError, OptionError
from fastcourse.nb import patch as nbpatch, run as nbs
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
    "smoke": "quick mode (smoke=True): tiny epochs and sizes, for CI"})
def run(c, notebook=None, param=None, smoke=False):
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
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise NotebookError(f"no such notebook: {', '.join(missing)} — see notebooks/")
    rows = [nbs.run_notebook(p.resolve(), nbs.out_dir(), params, project_root()) for p in paths]
    print(table(rows, ["notebook", "status", "duration", "failing cell"]))
    failed = [r for r in rows if r["status"] != "ok"]
    if failed:
        raise NotebookError("; ".join(f"{r['notebook']} failed at {r['failing cell']}" for r in failed)
                   + f" — the executed copies with the error are in {nbs.out_dir()}")
    print(f"executed notebooks and HTML: {nbs.out_dir()}")


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


@task(help={"dest": "folder for the notebooks (default course22)", "ref": "branch or tag (default main)",
            "repo": "git URL of the course notebooks (default: fast.ai's course22 on GitHub)"})
def course(c, dest="course22", ref="main", repo=nbs.COURSE_REPO):
    """Clone or update fast.ai's official course22 notebooks, then patch them to run here."""
    dest_path = project_root() / dest
    print(nbs.clone_course(dest_path, ref, repo))
    patch(c, str(dest_path))


def _serve(port: str, command, banner: str) -> None:
    """Register the kernel, print how to connect, then become the server (exec): signals reach it directly."""
    port = number(int, "port", port, 1, 65535)
    display = nbs.register_kernel()
    token = secrets.token_urlsafe(24)
    print(f"kernel '{nbs.KERNEL}' registered as {display!r}")
    print(banner.format(port=port, token=token), flush=True)
    sys.stderr.flush()
    cmd = command(port, token, nbs.notebook_dir())
    os.execv(cmd[0], cmd)


@task(help={"port": "port on 127.0.0.1 (default 8888)"})
def lab(c, port="8888"):
    """JupyterLab in notebooks/ on 127.0.0.1 with a token, and this environment's kernel registered."""
    _serve(port, nbs.lab_command, "JupyterLab: http://127.0.0.1:{port}/lab?token={token}")


@task(help={"port": "port on 127.0.0.1 (default 8888)"})
def colab(c, port="8888"):
    """Serve this environment to Google Colab ("Connect to a local runtime"); prints the URL to paste."""
    _serve(port, nbs.colab_command, "In Colab: Connect -> Connect to a local runtime, and paste:\n"
                                    "http://127.0.0.1:{port}/?token={token}")
