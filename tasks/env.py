"""Environment: diagnose the machine, check installed versions, regenerate the lock.

    inv env.doctor [--json]     what works here and what to fix
    inv env.check               installed packages against requirements.lock
    inv env.lock [--upgrade]    re-resolve pyproject.toml into the runtime and dev locks + environment.yml
    inv env.kernel              register this environment as a Jupyter kernel
"""

import json as jsonlib
import subprocess

from fastcourse.console import table
from fastcourse.env import doctor, lock as deps
from fastcourse.errors import EnvError
from fastcourse.paths import lock_file, project_root

from ._opts import number, task

MARK = {"ok": "ok", "warn": "WARN", "fail": "FAIL"}


@task(name="doctor", default=True, help={"json": "print machine-readable JSON instead of a table",
                          "timeout": "seconds to wait for each network host (default 2)"})
def doctor_(c, json=False, timeout="2"):
    """Diagnose this machine for the course (platform, versions, GPU, shm, disk, network, token, kernel)."""
    report = doctor.run_all(project_root(), network_timeout=number(float, "timeout", timeout, 0.01, 60))
    if json:
        print(jsonlib.dumps(report, indent=2))
    else:
        print(_checks(report["checks"]))
        n = {s: sum(c["status"] == s for c in report["checks"]) for s in MARK}
        print(f"\n{n['ok']} ok, {n['warn']} warnings, {n['fail']} blocking")
    if not report["ok"]:
        bad = ", ".join(c["name"] for c in report["checks"] if c["status"] == "fail")
        raise EnvError(f"env.doctor found blocking problems ({bad}) — apply the fix shown on each FAIL line")


def _checks(checks: list[dict]) -> str:
    """The doctor's table: mark, check, value; each fix on its own line below, so a log or a narrow terminal
    reads it."""
    rows = [{"": MARK[c["status"]], "check": c["name"], "value": c["value"]} for c in checks]
    lines = table(rows).splitlines()
    indent = " " * (max(map(len, MARK.values())) + 2 + max(len(c["name"]) for c in checks) + 2)
    out = lines[:2]
    for line, c in zip(lines[2:], checks):
        out += [line] + ([f"{indent}fix: {c['fix']}"] if c["fix"] and c["status"] != "ok" else [])
    return "\n".join(out)


@task
def check(c):
    """Compare installed package versions with requirements.lock; non-zero exit on any mismatch."""
    bad = deps.installed_mismatches(lock_file().read_text())
    if bad:
        print(table(bad))
        raise EnvError(f"{len(bad)} installed packages differ from {deps.LOCK} — "
                   f"run: pip install -r {deps.LOCK} -e .")
    print(f"all packages match {deps.LOCK}")


@task(help={"upgrade": "allow newer versions than the current lock (default: keep pins)",
            "course": "where the course22 copy is (default course22): the next command printed checks it"})
def lock(c, upgrade=False, course="course22"):
    """Re-resolve pyproject.toml into requirements.lock, requirements-dev.lock and environment.yml (uses uv)."""
    root = project_root()
    try:
        deps.compile_lock(root, upgrade=upgrade)
    except subprocess.TimeoutExpired:
        raise EnvError(f"uv took over {deps.RESOLVE_S} s to resolve the lock — check the network to the package "
                       "index, then run again") from None
    except subprocess.CalledProcessError as e:
        raise EnvError(f"uv could not resolve pyproject.toml (exit {e.returncode}) — "
                   "read uv's message above, fix the requirement, run again")
    problems = deps.agreement_problems(root)
    if problems:
        raise EnvError("; ".join(problems) + " — fix pyproject.toml and run inv env.lock again")
    print(f"wrote {deps.LOCK}, {deps.DEV_LOCK} and {deps.ENV_YML}")
    copy = root / course
    have = bool(list(copy.glob("[0-9][0-9]-*.ipynb")))
    print("next: install it and execute the course against it, so a lock bump that breaks a lesson shows now:\n"
          f"  bash scripts/setup.sh --dev && .venv/bin/inv nb.course {'--check' if have else '&& .venv/bin/inv nb.course --check'}")


@task(help={"name": "kernel name (default fastcourse)"})
def kernel(c, name="fastcourse"):
    """Register this environment's Python as a Jupyter kernel."""
    from fastcourse.nb.run import register_kernel

    print(f"kernel {name!r} registered as {register_kernel(name)!r}")
