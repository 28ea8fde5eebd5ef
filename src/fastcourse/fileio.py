"""File and process I/O every stage shares: atomic writes (honouring the umask), folder locks, text files
read one way, and child processes with deadlines and signals passed on."""

from __future__ import annotations

import codecs
import contextlib
import fcntl
import os
import re
import signal
import subprocess
import tempfile
from pathlib import Path

from .errors import BusyError, DataError, EnvError


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

    The file gets the mode a plain open() would give it (0666 less the umask), not mkstemp's 0600. The temp
    name carries the pid (`.NAME.PID.xxxx.part`), so `sweep()` can tell a dead run's leftovers.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}.", suffix=".part")
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


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid runs (ours or another user's)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


LEFTOVER = re.compile(r"^\..+\.(?:new-(?P<pid>\d+)|(?P<part>\d+)\.[^.]+\.part)$")  # ours: .NAME.new-PID, .NAME.PID.x.part


def sweep(folder: Path) -> list[Path]:
    """Remove what runs that died (kill -9, power cut) left in `folder`: temp files and half-written model
    folders whose process no longer runs; returns what was removed. A live run's are left alone."""
    import shutil

    removed = []
    for p in Path(folder).iterdir() if Path(folder).is_dir() else []:
        m = LEFTOVER.match(p.name)
        if not m or pid_alive(int(m["pid"] or m["part"])) or p.is_symlink():
            continue
        shutil.rmtree(p) if p.is_dir() else p.unlink(missing_ok=True)
        removed.append(p)
    return removed


@contextlib.contextmanager
def staging(dest: Path):
    """A folder beside `dest` named as ours (.NAME.new-PID) for work that must land whole: whatever is left of
    it when the block ends (a failure, or what was not moved out) is removed; a killed run's is swept later."""
    import shutil

    dest = Path(dest)
    tmp = dest.with_name(f".{dest.name}.new-{os.getpid()}")
    if tmp.exists() and not tmp.is_symlink():
        shutil.rmtree(tmp)
    try:
        yield tmp
    finally:
        if tmp.exists() and not tmp.is_symlink():
            shutil.rmtree(tmp)


BOMS = [(codecs.BOM_UTF32_LE, "UTF-32"), (codecs.BOM_UTF32_BE, "UTF-32"), (codecs.BOM_UTF16_LE, "UTF-16"),
        (codecs.BOM_UTF16_BE, "UTF-16")]


def read_text(path: Path, what: str | None = None) -> str:
    """A text file as UTF-8 (a leading BOM, as Excel and Notepad write, tolerated); DataError naming the
    encoding otherwise (UTF-16 from Windows tools, or binary)."""
    data = Path(path).read_bytes()
    what = what or str(path)
    for bom, name in BOMS:
        if data.startswith(bom):
            raise DataError(f"{what} is {name} text — save it as UTF-8 (e.g. in Notepad: Save as, Encoding UTF-8)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DataError(f"{what} is not UTF-8 text — save it as UTF-8, or check it is the file you meant") from None


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


def fetch_file(url: str, dest: Path, sha256: str | None = None, max_bytes: int = 64 * 1024**2,
               timeout: float = 30, retries: int = 2) -> Path:
    """Download `url` to `dest` atomically, with a timeout per read, a size cap, bounded retries and (when
    given) a sha256 the bytes must have; EnvError (one line) when it cannot be had."""
    import hashlib
    import time
    import urllib.error
    import urllib.request

    why = ""
    for attempt in range(retries + 1):
        try:
            with urllib.request.urlopen(url, timeout=timeout) as r:
                data = r.read(max_bytes + 1)
            if len(data) > max_bytes:
                raise EnvError(f"{url} is larger than {max_bytes // 1024**2} MB — not downloaded")
            if sha256 and hashlib.sha256(data).hexdigest() != sha256:
                raise EnvError(f"{url} does not have the expected contents (sha256) — not kept; try again later")
            return atomic_write_bytes(dest, data)
        except (urllib.error.URLError, OSError) as e:
            why = getattr(e, "reason", None) or type(e).__name__
            if isinstance(e, urllib.error.HTTPError) and e.code < 500:
                break
            time.sleep(min(2 ** attempt, 5))
    raise EnvError(f"could not download {url} ({why}) — check the network, then run again")


def last_line(text: str | bytes | None, default: str = "?", width: int = 160) -> str:
    """The last non-empty line of a child's output (what it said when it failed), cut to `width`."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    lines = [l.strip() for l in (text or "").strip().splitlines() if l.strip()]
    return (lines[-1] if lines else default)[:width]


def run(cmd: list[str], timeout: float, what: str | None = None, **kw) -> subprocess.CompletedProcess:
    """subprocess.run with output captured and a deadline; EnvError (one line) when it hangs or is missing.

    The exit code is the caller's to judge (check=False), as is the output.
    """
    what = what or Path(cmd[0]).name
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)
    except subprocess.TimeoutExpired:
        raise EnvError(f"{what} did not finish within {timeout:.0f} s — it may be hung; check it by hand "
                       f"({' '.join(map(str, cmd[:3]))}) and run again") from None
    except FileNotFoundError:
        raise EnvError(f"{what}: the command {cmd[0]} is not installed") from None


def run_child(cmd: list[str], on_start=None, **kw) -> int:
    """Run a long-lived child, passing SIGTERM/SIGINT/SIGHUP on to it and reaping it; returns its exit code.
    `on_start(proc)` runs in a thread once it has started (e.g. to say where a server answers)."""
    import threading

    proc = subprocess.Popen(cmd, **kw)
    forward = lambda sig, _frame: proc.send_signal(sig)  # noqa: E731
    old = {s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
    if on_start:
        threading.Thread(target=on_start, args=(proc,), daemon=True).start()
    try:
        return proc.wait()
    finally:
        for s, h in old.items():
            signal.signal(s, h)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
