"""Platform setup: WSL and Paperspace Gradient. The plan is shown by default; --apply performs it.

    inv setup.wsl [--apply]
    inv setup.paperspace [--apply]
"""

import os
from pathlib import Path

from fastcourse.console import table
from fastcourse.env import doctor, platforms as pf
from fastcourse.errors import EnvError
from fastcourse.paths import checkout

from ._opts import task



def _root() -> Path:
    """The file-system root: / (FASTCOURSE_ROOT stands in for it in tests)."""
    return Path(os.environ.get("FASTCOURSE_ROOT", "/"))


def _home(root: Path) -> Path:
    return root / str(Path.home()).lstrip("/") if str(root) != "/" else Path.home()


def _show(rows, apply, what):
    print(table(rows))
    if any(r["state"] == "FAILED" for r in rows):
        raise EnvError(f"{what}: a step failed (above) — fix it and run again; done steps are skipped")
    if not apply and any(r["state"] == "to do" for r in rows):
        print(f"\nthis is the plan; run `inv {what} --apply` to perform the steps marked 'to do'")


@task(help={"apply": "perform the plan (default: only show it)"})
def wsl(c, apply=False):
    """Set up WSL for the course: GPU driver check, packages, environment, git, VS Code; prints Windows paths."""
    root = _root()
    if not pf.is_wsl(root):
        kind = doctor.detect_platform(root)["kind"]
        raise EnvError(f"setup.wsl is for Windows Subsystem for Linux, and this machine is {kind} — "
                   "use `bash scripts/setup.sh` instead")
    rows = pf.run_plan(pf.wsl_steps(checkout(), _home(root)), apply)
    _show(rows, apply, "setup.wsl")
    print(f"\nThis project in Windows: {pf.windows_path(checkout())}\nOpen it in Explorer: explorer.exe .")


@task(help={"apply": "perform the plan (default: only show it)"})
def paperspace(c, apply=False):
    """Set up a Paperspace Gradient notebook: persist caches/config in /storage, pre-run.sh, course notebooks."""
    root = _root()
    if doctor.detect_platform(root)["kind"] != "paperspace" and not (root / "storage").is_dir():
        raise EnvError("setup.paperspace is for Paperspace Gradient notebooks (no PAPERSPACE_* variables and no "
                   "/storage here) — on other machines use `bash scripts/setup.sh`")
    _show(pf.run_plan(pf.paperspace_steps(root, _home(root), checkout()), apply), apply, "setup.paperspace")
