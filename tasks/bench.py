"""Benchmarks: `inv bench [--only NAME]` runs bench/*.py, each printing its ratio on its last line."""

import sys

from fastcourse.errors import UserError
from fastcourse.fileio import run_child
from fastcourse.paths import checkout

from ._opts import task



@task(help={"only": "run only the benchmarks whose file name contains this text"})
def bench(c, only=""):
    """Run the benchmarks in bench/ (ours against the peer, same run) and print each ratio."""
    scripts = sorted(p for p in (checkout() / "bench").glob("*.py") if only in p.stem)
    if not scripts:
        raise UserError(f"no benchmark in bench/ matches {only!r} — see ls bench/")
    failed = []
    for script in scripts:
        print(f"== {script.name}", flush=True)
        if run_child([sys.executable, str(script)]):
            failed.append(script.name)
    if failed:
        raise UserError(f"benchmarks failed: {', '.join(failed)} — read their output above")
