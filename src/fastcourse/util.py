"""Small shared helpers: atomic writes, project paths, plain-text tables."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


CHECKOUT = Path(__file__).resolve().parents[2]  # the repository fastcourse runs from (src layout)


def project_root() -> Path:
    """The folder holding data/, models/ and build/ (FASTCOURSE_HOME or the current directory)."""
    return Path(os.environ.get("FASTCOURSE_HOME") or os.getcwd()).resolve()


def lock_file() -> Path:
    """requirements.lock of the project folder, else of the checkout fastcourse runs from."""
    here = project_root() / "requirements.lock"
    return here if here.exists() else CHECKOUT / "requirements.lock"


def atomic_write_with(path: Path, write) -> Path:
    """Call write(tmp) for a temp file beside `path`, then rename it over `path` (nothing half-written)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    os.close(fd)
    try:
        write(Path(tmp))
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
