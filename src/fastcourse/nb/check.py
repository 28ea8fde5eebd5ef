"""`inv nb.course --check`: the official course executed, every notebook, on local stand-ins, in minutes on a
CPU. A copy of the notebooks is patched and run headlessly in a scratch folder with its own HOME and caches;
online parts are the stand-ins (standins.py) and the kernels are cut to a few batches (checkmode.py). It never
touches the learner's data/, models/, caches or credentials, reaches nothing off 127.0.0.1, and never submits
or publishes. One row per notebook: cells run of total, seconds, the first failing cell with its error.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

from ..errors import NotebookError, OptionError

PREREQUISITES = [  # (what fails without it, how to tell it is missing, the one line naming it)
    ("ExecutableNotFound", lambda: shutil.which("dot") is None,
     "graphviz `dot` not installed — sudo apt install graphviz (macOS: brew install graphviz)"),
]
STARTUP = "import fastcourse.nb.checkmode as _check\n_check.install()\ndel _check\n"


def course_notebooks(source: Path) -> list[Path]:
    """The eleven official notebooks (NN-*.ipynb at the top of a course22 copy), in order."""
    found = sorted(p for p in Path(source).glob("[0-9][0-9]-*.ipynb") if not p.name.endswith(".orig.ipynb"))
    if not found:
        raise NotebookError(f"no course notebooks (00-…ipynb to 10-…ipynb) in {source} — fetch them with "
                            "inv nb.course, or pass --from PATH to a copy of fastai/course22")
    return found


def scratch_env(scratch: Path) -> dict:
    """HOME, the project and every cache the kernels use, all inside `scratch`, offline for the Hub."""
    folders = {k: scratch / v for k, v in {"HOME": "home", "FASTCOURSE_HOME": "project", "FASTAI_HOME": "fastai",
                                           "TORCH_HOME": "torch", "HF_HOME": "hf", "IPYTHONDIR": "ipython",
                                           "KAGGLE_CONFIG_DIR": "kaggle", "XDG_CACHE_HOME": "cache",
                                           "XDG_CONFIG_HOME": "config", "MPLCONFIGDIR": "mpl"}.items()}
    for folder in folders.values():
        folder.mkdir(parents=True, exist_ok=True)
    (folders["KAGGLE_CONFIG_DIR"] / "kaggle.json").write_text('{"username": "learner", "key": "course-check"}')
    (folders["KAGGLE_CONFIG_DIR"] / "kaggle.json").chmod(0o600)
    startup = folders["IPYTHONDIR"] / "profile_default" / "startup"
    startup.mkdir(parents=True)
    (startup / "00-fastcourse-check.py").write_text(STARTUP)
    env = {k: str(v) for k, v in folders.items()}
    env.update(HF_HUB_OFFLINE="1", KAGGLE_USERNAME="learner", FASTCOURSE_KAGGLE_SUBMIT="0",
               FASTCOURSE_KAGGLE_PUSH="0", NO_PROXY="localhost,127.0.0.1", no_proxy="localhost,127.0.0.1")
    return env


def select(notebooks: list[Path], only: str) -> list[Path]:
    """The notebooks --only names by number (5 or 05; 00,02,05), every number checked against the copy."""
    numbers = {p.name[:2]: p for p in notebooks}
    wanted = [w.strip() for w in only.split(",") if w.strip()]
    bad = [w for w in wanted if not w.isdigit() or w.zfill(2) not in numbers]
    if bad:
        raise OptionError(f"--only {','.join(bad)}: not a notebook number of this copy — use "
                          f"{', '.join(numbers)} (e.g. --only 05 or --only 00,02,05)")
    return [p for n, p in numbers.items() if not wanted or n in {w.zfill(2) for w in wanted}]


def run_check(source: Path, out_dir: Path, timeout: float = 900, only: str = "", full: bool = False,
              log=print) -> list[dict]:
    """Patch a copy of the course in a scratch folder and execute each notebook there; one row each.

    full: the stand-ins, but no cuts and full-size architectures (what a learner runs; a GPU's work).
    """
    from . import patch, standins

    notebooks = select(course_notebooks(source), only)
    scratch = Path(tempfile.mkdtemp(prefix="fastcourse-check-"))
    course = scratch / "course22"
    course.mkdir()
    for nb in notebooks:
        shutil.copy(nb, course / nb.name)
    pins = patch.pinned_packages()
    saved = dict(os.environ)
    os.environ.update(scratch_env(scratch))
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy", "HF_TOKEN",
                "KAGGLE_API_TOKEN", "KAGGLE_KEY"):
        os.environ.pop(var, None)
    os.environ["KAGGLE_KEY"] = "course-check"
    os.environ["FASTCOURSE_CHECK_FULL"] = "1" if full else "0"
    log(f"course check in {scratch} (a scratch HOME and caches; stand-ins on 127.0.0.1)")
    rows = []
    try:
        standins.pets(Path(os.environ["FASTAI_HOME"]))
        code = "".join(nb.read_text() for nb in notebooks)
        archs = [a for a in standins.TIMM_ARCHS if a in code]
        standins.weights(Path(os.environ["TORCH_HOME"]), Path(os.environ["HF_HOME"]), archs, full)
        with standins.Servers() as servers:
            os.environ.update(servers.env())
            for nb in notebooks:
                patch.patch_notebook(course / nb.name, backup=False, pins=pins)
                rows.append(check_row(course / nb.name, out_dir, timeout, Path(os.environ["FASTCOURSE_HOME"])))
                log(f"{rows[-1]['notebook']}: {rows[-1]['cells']} cells, {rows[-1]['seconds']} s"
                    + (f" — {rows[-1]['result']}" if rows[-1]["result"] != "ok" else ""))
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return rows


def check_row(nb: Path, out_dir: Path, timeout: float, home: Path) -> dict:
    """Run one patched notebook; its row: cells run of total, seconds, ok / a named prerequisite / the failure."""
    import nbformat

    from .run import run_notebook

    start = time.monotonic()
    result = run_notebook(nb, out_dir, {}, home, timeout)
    executed = nbformat.read(out_dir / nb.name, as_version=4).cells if (out_dir / nb.name).exists() else []
    code = [c for c in executed if c.cell_type == "code"]
    ran = sum(c.get("metadata", {}).get("papermill", {}).get("status") == "completed" for c in code)
    row = {"notebook": nb.name[:2], "cells": f"{ran}/{len(code)}", "seconds": f"{time.monotonic() - start:.0f}",
           "result": "ok", "prerequisite": ""}
    if result["status"] != "ok":
        failure = result["failing cell"]
        missing = next((line for mark, absent, line in PREREQUISITES if mark in failure and absent()), "")
        row.update(result=f"needs {missing}" if missing else failure, prerequisite=missing)
    return row
