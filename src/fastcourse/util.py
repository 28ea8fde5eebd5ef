"""Small shared helpers: project paths, atomic writes (honouring the umask), folder locks, tables."""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import subprocess
import tempfile
from pathlib import Path

from .errors import BusyError, EnvError, check_name


def _find_checkout() -> Path | None:
    """The source checkout fastcourse runs from (editable install), or None for a plain install."""
    env = os.environ.get("FASTCOURSE_CHECKOUT")
    if env:
        return Path(env).resolve()
    here = Path(__file__).resolve().parents[2]  # src layout: <checkout>/src/fastcourse/util.py
    return here if (here / "pyproject.toml").is_file() and (here / "tasks").is_dir() else None


CHECKOUT = _find_checkout()  # None when fastcourse is installed from a wheel


def checkout() -> Path:
    """The checkout (notebooks/, docker/, bench/), else the project folder."""
    return CHECKOUT or project_root()


def project_root() -> Path:
    """The folder holding data/, models/ and build/ (FASTCOURSE_HOME or the current directory)."""
    home = os.environ.get("FASTCOURSE_HOME")
    root = Path(home or os.getcwd()).resolve()
    if home and not root.is_dir():
        raise EnvError(f"FASTCOURSE_HOME={home} is not a folder — create it (mkdir -p {home}) or unset it")
    return root


def dataset_dir(root: Path, name: str) -> Path:
    """data/NAME under the project root, NAME checked."""
    return Path(root) / "data" / check_name(name)


def model_dir(root: Path, name: str) -> Path:
    """models/NAME under the project root, NAME checked."""
    return Path(root) / "models" / check_name(name)


def model_locked(root: Path, name: str):
    """The write lock of models/NAME: a file beside the folder (the folder itself is replaced as a unit)."""
    dest = model_dir(root, name)
    return folder_lock(dest.with_name(f".{name}.lock"), f"model {dest}")


def space_dir(root: Path, name: str) -> Path:
    """build/space/NAME under the project root, NAME checked."""
    return Path(root) / "build" / "space" / check_name(name, "bundle name")


def lock_file() -> Path:
    """requirements.lock of the project folder, else of the checkout fastcourse runs from."""
    here = project_root() / "requirements.lock"
    return here if here.exists() or CHECKOUT is None else CHECKOUT / "requirements.lock"


def umask() -> int:
    """The process umask, read without changing it where /proc allows."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    old = os.umask(0o022)
    os.umask(old)
    return old


def atomic_write_with(path: Path, write) -> Path:
    """Call write(tmp) for a temp file beside `path`, then rename it over `path` (nothing half-written).

    The file gets the mode a plain open() would give it (0666 less the umask), not mkstemp's 0600.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o666 & ~umask())
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return path


def atomic_write_bytes(path: Path, data: bytes) -> Path:
    """Write `data` to `path` atomically, flushed to disk before the rename."""
    def write(tmp: Path):
        with tmp.open("wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())

    return atomic_write_with(path, write)


def atomic_write_text(path: Path, text: str) -> Path:
    """Write `text` (UTF-8) atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"))


@contextlib.contextmanager
def folder_lock(lockfile: Path, what: str):
    """Hold an exclusive fcntl lock on `lockfile` while writing `what`; a second writer fails at once."""
    lockfile = Path(lockfile)
    lockfile.parent.mkdir(parents=True, exist_ok=True)
    with open(lockfile, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            pid = f.read().strip() or "?"
            raise BusyError(f"{what} is being written by another fastcourse process (pid {pid}) — "
                            "wait for it to finish, then run again") from None
        f.truncate(0)
        f.write(str(os.getpid()))
        f.flush()
        try:
            yield
        finally:
            f.truncate(0)
            fcntl.flock(f, fcntl.LOCK_UN)


def run_child(cmd: list[str], **kw) -> int:
    """Run a long-lived child, passing SIGTERM/SIGINT/SIGHUP on to it and reaping it; returns its exit code."""
    proc = subprocess.Popen(cmd, **kw)
    forward = lambda sig, _frame: proc.send_signal(sig)  # noqa: E731
    old = {s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
    try:
        return proc.wait()
    finally:
        for s, h in old.items():
            signal.signal(s, h)
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def table(rows: list[dict], columns: list[str] | None = None) -> str:
    """Render dict rows as an aligned plain-text table."""
    if not rows:
        return "(nothing)"
    columns = columns or list(rows[0])
    cells = [[str(r.get(c, "")) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    line = lambda vals: "  ".join(v.ljust(w) for v, w in zip(vals, widths)).rstrip()
    return "\n".join([line(columns), line(["-" * w for w in widths]), *map(line, cells)])


def human_bytes(n: float) -> str:
    """1536 -> '1.5 KB'."""
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"
