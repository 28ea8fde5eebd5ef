"""Notebooks: headless papermill runs, nbdev export, the official course22 notebooks, JupyterLab."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from ..errors import NotebookError
from ..paths import checkout, project_root

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


CELL_TIMEOUT = 20 * 60  # seconds one cell may run (nb.run --timeout): a `while True` cell cannot hold CI forever
QUIET_KERNEL = ["--IPKernelApp.log_level=CRITICAL"]  # the kernel listens on 127.0.0.1 only: its "TCP without
# encryption" warning, and its shutdown noise after a timeout, say nothing a learner can act on


def run_notebook(nb: Path, out_dir: Path, params: dict, home: Path, timeout: float = CELL_TIMEOUT) -> dict:
    """Execute a copy of `nb` with papermill into out_dir, in the notebook's own folder (its relative paths and
    `%cd` assume it), with `home` as the project folder; the copy is saved after every cell and rendered as HTML.
    The original is never modified. Ctrl-C ends in one line naming the cell that was running."""
    import papermill as pm

    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / nb.name
    bindir, path = str(Path(sys.executable).parent), os.environ.get("PATH", "")
    if path.split(os.pathsep)[0] != bindir:  # the kernel's `python` is this environment's (once, not per run)
        os.environ["PATH"] = f"{bindir}{os.pathsep}{path}"
    os.environ["FASTCOURSE_HOME"] = str(home)  # the kernel runs in the notebook's folder, the project stays
    start, row = time.time(), {"notebook": nb.name, "status": "ok", "failing cell": "", "output": ""}
    try:
        read_notebook(nb)
    except NotebookError as e:
        return {**row, "status": "FAILED", "failing cell": str(e), "duration": "0.0 s"}
    try:
        pm.execute_notebook(str(nb), str(out), parameters=params, cwd=str(nb.parent), progress_bar=False,
                            kernel_name="python3", log_output=False, request_save_on_cell_execute=True,
                            execution_timeout=timeout, extra_arguments=QUIET_KERNEL)
    except pm.PapermillExecutionError as e:
        row.update(status="FAILED", **{"failing cell": f"cell {e.cell_index} (In [{e.exec_count}]): {e.ename}: "
                                                        f"{str(e.evalue)[:80]}"})
    except TimeoutError:  # nbclient's CellTimeoutError
        row.update(status="FAILED", **{"failing cell": f"{running_cell(out)}: ran over --timeout {timeout:.0f} s"})
    except KeyboardInterrupt:
        raise NotebookError(f"interrupted in {nb.name} at {running_cell(out)} — what ran so far is in {out}; "
                            "run it again to start over") from None
    row["duration"] = f"{time.time() - start:.1f} s"
    if out.exists():
        render_html(out)
    row["output"] = str(out)
    return row


def running_cell(executed: Path) -> str:
    """'cell N' of the cell papermill marked running (or the first not completed) in a partly executed copy."""
    import nbformat

    try:
        cells = nbformat.read(executed, as_version=4).cells
    except (OSError, ValueError):
        return "the first cell"
    states = [c.get("metadata", {}).get("papermill", {}).get("status") for c in cells]
    for want in ("running", "pending"):
        if want in states:
            return f"cell {states.index(want)}"
    return f"cell {len(cells) - 1}"


def render_html(nb: Path) -> Path:
    """The executed notebook as HTML beside it."""
    import warnings

    import nbformat
    from nbconvert import HTMLExporter

    from ..fileio import atomic_write_text

    with warnings.catch_warnings():  # nbconvert warns of each output it has no HTML for (plotly's JSON in 03,
        warnings.simplefilter("ignore", UserWarning)  # 04): the page shows its other forms; nothing to fix
        body, _ = HTMLExporter().from_notebook_node(nbformat.read(nb, as_version=4))
    return atomic_write_text(nb.with_suffix(".html"), body)


def export_script(nb: Path, to: Path | None = None) -> Path:
    """nbdev export of the `#|export` cells (lesson 2's app.py, formerly notebook2script)."""
    from nbdev.export import nb_export

    to = Path(to) if to else nb.with_name("app.py")
    to.parent.mkdir(parents=True, exist_ok=True)
    nb_export(str(nb), lib_path=str(to.parent), name=to.stem, solo_nb=True)
    if not to.exists():
        raise NotebookError(f"{nb} has no `#|export` cells — mark the cells to export with #|export")
    return to


def kernelspec() -> dict:
    """The notebook metadata naming the kit's kernel."""
    return {"name": KERNEL, "display_name": f"Python {sys.version_info.major}.{sys.version_info.minor} (fastcourse)",
            "language": "python"}


def register_kernel(name: str = KERNEL, user: bool = True) -> str:
    """Register this environment's Python as a Jupyter kernel; returns its display name."""
    display = kernelspec()["display_name"]
    where = ["--user"] if user else ["--prefix", sys.prefix]
    subprocess.run([sys.executable, "-m", "ipykernel", "install", *where, "--name", name,
                    "--display-name", display], check=True, capture_output=True, timeout=120)
    return display


def lab_command(port: int, token: str, notebook_dir: Path) -> list[str]:
    """JupyterLab on 127.0.0.1 only, with token authentication, in `notebook_dir`, offering one kernel: the
    kit's (the environment's plain python3 kernel is the same Python; two entries only confuse)."""
    return [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={notebook_dir}", "--ServerApp.open_browser=False",
            f"--KernelSpecManager.allowed_kernelspecs={KERNEL}", f"--MappingKernelManager.default_kernel_name={KERNEL}",
            f"--ServerApp.allow_root={os.geteuid() == 0}"]  # root: containers, Paperspace, CI


def announce(proc, port: int, line: str, timeout: float = 300) -> None:
    """Print `line` (the URL with its token) once the server on `port` answers, as the last line on screen."""
    import urllib.request

    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # 127.0.0.1: never through a proxy
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        try:
            direct.open(f"http://127.0.0.1:{port}/api", timeout=2)
            print(f"\n{line}\n(Ctrl-C to stop the server)", flush=True)
            return
        except Exception:  # not up yet: refused, reset, or a half-started server's odd answer
            time.sleep(0.3)


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
