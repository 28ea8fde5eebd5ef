"""Platform setup: `inv setup.wsl` and `inv setup.paperspace` as plans of idempotent steps.

Each step knows whether it is done and how to do it; the default run shows the plan, `--apply`
performs what is not done. File-system roots, the environment and the command runner are
parameters, so tests run against a fake root (a temp dir standing in for /, /storage, /proc).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..errors import EnvError, UserError, one_line
from ..fileio import atomic_write_text, last_line, staging

PERSIST = [".fastai", ".cache/huggingface", ".cache/torch", ".local", ".jupyter", ".ssh"]  # under ~
APT = ["git", "curl", "build-essential", "python3-venv"]
BASHRC_MARK = "# fastcourse: activate the course environment"


@dataclass
class Step:
    name: str
    done: Callable[[], bool]
    do: Callable[[], None] | None  # None: the learner must act; `hint` says how
    hint: str = ""


def runner(cmd: list[str], timeout: float = 60, **kw) -> subprocess.CompletedProcess:
    """The real command runner, with a deadline: a command that hangs (nvidia-smi on a wedged driver) or is
    missing answers like a failed one (124 / 127) instead of stopping the plan (tests pass a recording fake)."""
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(cmd, 124, "", f"{cmd[0]} did not finish within {timeout:.0f} s")
    except FileNotFoundError:
        return subprocess.CompletedProcess(cmd, 127, "", f"{cmd[0]}: command not found")


def is_wsl(root: Path) -> bool:
    """Windows Subsystem for Linux (the doctor's detection, one place)."""
    from .doctor import detect_platform

    return detect_platform(root)["wsl"]


def windows_path(project: Path, environ=os.environ, run=runner) -> str:
    """The project's path as Windows Explorer sees it (\\\\wsl$\\<distro>\\...)."""
    try:
        r = run(["wslpath", "-w", str(project)])
        if r.returncode == 0 and r.stdout.strip():
            return r.stdout.strip()
    except OSError:
        pass
    distro = environ.get("WSL_DISTRO_NAME", "Ubuntu")
    return "\\\\wsl$\\" + distro + str(project).replace("/", "\\")


def wsl_steps(project: Path, home: Path, run=runner, which=shutil.which) -> list[Step]:
    """What a WSL machine needs for the course."""
    def bashrc_done():
        rc = home / ".bashrc"
        return rc.exists() and BASHRC_MARK in rc.read_text()

    def bashrc_do():
        rc = home / ".bashrc"
        old = rc.read_text() if rc.exists() else ""
        atomic_write_text(rc, old + f"\n{BASHRC_MARK}\nsource {project}/.venv/bin/activate\n")

    def apt_done():
        return all(run(["dpkg", "-s", p]).returncode == 0 for p in APT)

    return [
        Step("NVIDIA driver visible (nvidia-smi)",
             lambda: run(["nvidia-smi"], timeout=15).returncode == 0 if which("nvidia-smi") else False,
             None, "install the NVIDIA driver on Windows, not in Linux: WSL uses the Windows driver "
                   "(https://www.nvidia.com/Download/index.aspx); CPU-only also works"),
        Step(f"system packages ({' '.join(APT)})", apt_done,
             lambda: _check(run(["sudo", "-n", "apt-get", "install", "-y", *APT], timeout=1800)),
             f"sudo apt-get install -y {' '.join(APT)}"),
        Step("the course environment (.venv)", lambda: (project / ".venv/.fastcourse-lock").exists(),
             lambda: _check(run(["bash", str(project / "scripts/setup.sh")], timeout=3600)), "bash scripts/setup.sh"),
        Step("new shells activate the environment (~/.bashrc)", bashrc_done, bashrc_do),
        Step("git identity", lambda: run(["git", "config", "--global", "user.email"]).returncode == 0, None,
             'git config --global user.name "Your Name" && git config --global user.email you@example.com'),
        Step("VS Code from WSL (code .)", lambda: which("code") is not None, None,
             "install VS Code on Windows with the WSL extension, then run `code .` here"),
    ]


def paperspace_steps(root: Path, home: Path, project: Path, run=runner) -> list[Step]:
    """Keep what must survive a Gradient restart under /storage, restored by /storage/pre-run.sh."""
    storage = root / "storage"
    steps = [Step(f"~/{name} kept in /storage", lambda n=name: _linked(home / n, storage / "home" / n),
                  lambda n=name: persist(home / n, storage / "home" / n)) for name in PERSIST]
    script = storage / "pre-run.sh"
    steps.append(Step("/storage/pre-run.sh restores the links at start-up",
                      lambda: script.exists() and script.read_text() == pre_run(home, storage, project),
                      lambda: _write_script(script, pre_run(home, storage, project))))
    dest = root / "notebooks" / "course22"
    steps.append(Step("course notebooks in /notebooks/course22", lambda: (dest / ".git").exists(),
                      lambda: _check(run([sys.executable, "-m", "invoke", "-r", str(project), "nb.course",
                                          "--dest", str(dest)], timeout=900))))
    return steps


def _linked(link: Path, target: Path) -> bool:
    return link.is_symlink() and Path(os.readlink(link)) == target


def persist(path: Path, target: Path) -> None:
    """Move `path` into `target` (merging, never overwriting) and leave a symlink behind, as a transaction:
    the copy is made beside `target` after checking the room for it, and `path` is replaced by the link only
    once the copy is complete; on any failure `path` is as it was. Modes are kept (~/.ssh stays 0700)."""
    aside = None
    if path.is_symlink():
        path.unlink()
    elif path.exists():
        aside = _move_in(path, target)
    if not target.exists():
        target.mkdir(parents=True, mode=0o700 if path.name == ".ssh" else 0o777)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        path.symlink_to(target)
    except OSError:
        if aside:
            aside.rename(path)
        raise
    if aside:
        shutil.rmtree(aside)


def _move_in(path: Path, target: Path) -> Path:
    """Copy `path` into `target` through a staging folder, then move `path` aside (returned, to drop once
    linked)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    need, free = _tree_size(path), shutil.disk_usage(target.parent).free
    if os.stat(path).st_dev != os.stat(target.parent).st_dev and need + 64 * 1024**2 > free:
        raise EnvError(f"{target.parent} has {free / 1024**3:.1f} GB free and {path} needs {need / 1024**3:.1f} GB — "
                       f"free space there (or remove what {path} holds that you do not need); {path} is unchanged")
    try:
        with staging(target) as copy:
            shutil.copytree(path, copy, symlinks=True)  # copy2: contents, modes and times
            target.mkdir(exist_ok=True)
            os.chmod(target, os.stat(path).st_mode & 0o7777)
            for item in sorted(copy.iterdir()):
                dest = target / item.name
                if dest.exists() or dest.is_symlink():  # both have it: keep the home copy beside, lose neither
                    dest = target / f"{item.name}.from-home-{time.strftime('%Y%m%d%H%M%S')}"
                item.rename(dest)
    except OSError as e:
        raise EnvError(f"could not copy {path} into {target} ({e.strerror or type(e).__name__}) — {path} is "
                       "unchanged; free space or fix permissions there, then run again") from None
    aside = path.with_name(f".{path.name}.moved-{os.getpid()}")
    path.rename(aside)
    return aside


def _tree_size(path: Path) -> int:
    """Bytes of the files under `path` (links not followed)."""
    return sum(p.lstat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def pre_run(home: Path, storage: Path, project: Path) -> str:
    """The start-up script Gradient runs: relink persisted folders, put ~/.local/bin on PATH."""
    links = "\n".join(f'relink "{home / n}" "{storage / "home" / n}"' for n in PERSIST)
    return f"""#!/usr/bin/env bash
# Written by `inv setup.paperspace`: Paperspace Gradient runs /storage/pre-run.sh at start-up.
# Keeps caches and config in /storage (persistent) and links them into the home folder.
set -u
relink() {{  # relink LINK TARGET: copy anything new into TARGET, keep what differs aside, then link
  mkdir -p "$2" "$(dirname "$1")"
  if [ -d "$1" ] && [ ! -L "$1" ]; then
    cp -an "$1"/. "$2"/
    left=$(cd "$1" && find . -type f ! -exec cmp -s {{}} "$2/{{}}" \\; -print)
    if [ -n "$left" ]; then mv "$1" "$1.replaced-$(date +%Y%m%d%H%M%S)"; else rm -rf "$1"; fi
  fi
  [ -L "$1" ] || ln -s "$2" "$1"
}}
{links}
grep -q '.local/bin' "{home}/.bashrc" 2>/dev/null || echo 'export PATH="$HOME/.local/bin:$PATH"' >> "{home}/.bashrc"
echo "fastcourse: restored links from {storage}; project in {project}"
"""


def _write_script(path: Path, text: str) -> None:
    atomic_write_text(path, text)
    path.chmod(0o755)


def _check(result) -> None:
    """EnvError with the command's last line when it failed."""
    if getattr(result, "returncode", 0):
        raise EnvError(f"{' '.join(map(str, result.args[:3]))} failed: "
                       f"{last_line(getattr(result, 'stderr', '') or getattr(result, 'stdout', ''), 'no message')}")


def run_plan(steps: list[Step], apply: bool) -> list[dict]:
    """Show (and with apply, perform) each step; returns rows: step, state, action."""
    rows = []
    for s in steps:
        if s.done():
            rows.append({"step": s.name, "state": "done", "action": ""})
        elif not apply or s.do is None:
            rows.append({"step": s.name, "state": "to do", "action": s.hint or "inv ... --apply"})
        else:
            try:
                s.do()
                rows.append({"step": s.name, "state": "done now" if s.done() else "FAILED", "action": s.hint})
            except (UserError, OSError) as e:  # one step failing stops neither the plan nor the others
                rows.append({"step": s.name, "state": "FAILED", "action": one_line(e) or str(e)})
    return rows
