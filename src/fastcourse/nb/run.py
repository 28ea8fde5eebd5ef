"""Notebooks: headless papermill runs, nbdev export, the official course22 notebooks, JupyterLab."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from ..errors import NotebookError
from ..paths import checkout, project_root

COURSE_REPO = os.environ.get("FASTCOURSE_COURSE_REPO", "https://github.com/fastai/course22.git")  # or a mirror
KERNEL = "fastcourse"


def read_notebook(path: Path):
    """The notebook at `path`, validated; NotebookError (one line) when it is not a readable notebook."""
    import nbformat

    try:
        nb = nbformat.read(path, as_version=4)
        try:
            nbformat.validate(nb)
        except nbformat.ValidationError:  # course22's clean/ copies carry unknown keys (path_, idx_)
            _drop_unknown_keys(nb)
            nbformat.validate(nb)
        return nb
    except (OSError, ValueError, AttributeError, TypeError, KeyError, nbformat.ValidationError) as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:100]
        raise NotebookError(f"{path}: not a valid notebook ({type(e).__name__}: {first}) — "
                            "restore it (a NAME.orig.ipynb backup, or git checkout) or remove it") from None


def _drop_unknown_keys(nb) -> None:
    """Remove keys nbformat 4 does not define (Jupyter ignores them; validation does not)."""
    for key in set(nb) - {"cells", "metadata", "nbformat", "nbformat_minor"}:
        del nb[key]
    for cell in nb.cells:
        for key in set(cell) - {"id", "cell_type", "metadata", "source", "outputs", "execution_count", "attachments"}:
            del cell[key]


def run_notebook(nb: Path, out_dir: Path, params: dict, cwd: Path) -> dict:
    """Execute a copy of `nb` with papermill into out_dir (the original is never modified), render HTML."""
    import papermill as pm

    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / nb.name
    bindir, path = str(Path(sys.executable).parent), os.environ.get("PATH", "")
    if path.split(os.pathsep)[0] != bindir:  # the kernel's `python` is this environment's (once, not per run)
        os.environ["PATH"] = f"{bindir}{os.pathsep}{path}"
    start, row = time.time(), {"notebook": nb.name, "status": "ok", "failing cell": "", "output": ""}
    try:
        read_notebook(nb)
    except NotebookError as e:
        return {**row, "status": "FAILED", "failing cell": str(e), "duration": "0.0 s"}
    try:
        pm.execute_notebook(str(nb), str(out), parameters=params, cwd=str(cwd), progress_bar=False,
                            kernel_name="python3", log_output=False)
    except pm.PapermillExecutionError as e:
        row.update(status="FAILED", **{"failing cell": f"cell {e.cell_index} (In [{e.exec_count}]): {e.ename}: "
                                                        f"{str(e.evalue)[:80]}"})
    row["duration"] = f"{time.time() - start:.1f} s"
    if out.exists():
        render_html(out)
    row["output"] = str(out)
    return row


def render_html(nb: Path) -> Path:
    """The executed notebook as HTML beside it."""
    import nbformat
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_notebook_node(nbformat.read(nb, as_version=4))
    html = nb.with_suffix(".html")
    html.write_text(body)
    return html


def export_script(nb: Path, to: Path | None = None) -> Path:
    """nbdev export of the `#|export` cells (lesson 2's app.py, formerly notebook2script)."""
    from nbdev.export import nb_export

    to = Path(to) if to else nb.with_name("app.py")
    to.parent.mkdir(parents=True, exist_ok=True)
    nb_export(str(nb), lib_path=str(to.parent), name=to.stem, solo_nb=True)
    if not to.exists():
        raise NotebookError(f"{nb} has no `#|export` cells — mark the cells to export with #|export")
    return to


def clone_course(dest: Path, ref: str = "main", repo: str = COURSE_REPO) -> str:
    """Clone or update the official course22 notebooks at `ref` with git; returns what was done."""
    git = ["git", "-c", "advice.detachedHead=false"]
    try:
        if (dest / ".git").exists():
            here = git + ["-C", str(dest)]
            subprocess.run(here + ["fetch", "--depth", "1", "origin", ref], check=True,
                           capture_output=True, text=True, timeout=300)
            dirty = subprocess.run(here + ["status", "--porcelain"], capture_output=True, text=True).stdout.strip()
            if dirty:  # the learner's edits (and our earlier patches) are kept in a stash, never dropped
                subprocess.run(here + ["-c", "user.name=fastcourse", "-c", "user.email=fastcourse@localhost",
                                       "stash", "push", "--include-untracked", "-m", "fastcourse: before nb.course update"],
                               check=True, capture_output=True, text=True)
            subprocess.run(here + ["checkout", "FETCH_HEAD"], check=True, capture_output=True, text=True)
            kept = f"; your earlier changes are saved: git -C {dest} stash list" if dirty else ""
            return f"updated {dest} to {ref}{kept}"
        subprocess.run(git + ["clone", "--depth", "1", "--branch", ref, repo, str(dest)], check=True,
                       capture_output=True, text=True, timeout=300)
        return f"cloned {repo} ({ref}) into {dest}"
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as e:
        why = ((getattr(e, "stderr", "") or "").strip().splitlines() or ["timed out"])[-1]
        raise NotebookError(f"git could not get {repo} ({ref}): {why} — check the network, or copy course22 "
                            "by hand and run inv nb.patch on it") from e


def register_kernel(name: str = KERNEL, user: bool = True) -> str:
    """Register this environment's Python as a Jupyter kernel; returns its display name."""
    display = f"Python {sys.version_info.major}.{sys.version_info.minor} (fastcourse)"
    where = ["--user"] if user else ["--prefix", sys.prefix]
    subprocess.run([sys.executable, "-m", "ipykernel", "install", *where, "--name", name,
                    "--display-name", display], check=True, capture_output=True)
    return display


def lab_command(port: int, token: str, notebook_dir: Path) -> list[str]:
    """JupyterLab on 127.0.0.1 only, with token authentication, in `notebook_dir`."""
    return [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={notebook_dir}", "--ServerApp.open_browser=False",
            f"--ServerApp.allow_root={os.geteuid() == 0}"]  # root: containers, Paperspace, CI


COLAB = "https://colab.research.google.com"


def colab_command(port: int, token: str, notebook_dir: Path) -> list[str]:
    """The same server for Colab's "Connect to a local runtime": Colab's origin may call it, with the token."""
    return lab_command(port, token, notebook_dir) + [f"--ServerApp.allow_origin={COLAB}",
                                                     "--ServerApp.allow_credentials=True"]


def default_notebooks() -> list[Path]:
    """Our own course notebooks, in order."""
    return sorted((checkout() / "notebooks").glob("[0-9]*.ipynb"))


def notebook_dir() -> Path:
    """The folder JupyterLab opens: the checkout's notebooks/ (or the project's)."""
    return checkout() / "notebooks"


def out_dir() -> Path:
    """build/notebooks/ of the project: executed copies and their HTML."""
    return project_root() / "build" / "notebooks"
