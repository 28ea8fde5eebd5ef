"""data/NAME/manifest.csv: one row per source item (URL or embedded sample), rewritten atomically."""

from __future__ import annotations

import csv
import hashlib
import io
from pathlib import Path

from ..fileio import atomic_write_text, folder_lock

FIELDS = ["status", "reason", "category", "url", "query", "sha256", "width", "height", "path"]
STATUSES = ("kept", "duplicate", "failed", "deleted")  # relabeled images stay "kept" with a reason


def read(path: Path) -> list[dict]:
    """Rows of a manifest (empty when it does not exist)."""
    if not path.exists():
        return []
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def write(path: Path, rows: list[dict]) -> None:
    """Rewrite the whole manifest atomically, so an interruption never leaves half a file."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=FIELDS, extrasaction="ignore")
    w.writeheader()
    w.writerows(rows)
    atomic_write_text(path, buf.getvalue())


def locked(ds: Path):
    """The dataset's write lock: one writer at a time per data/NAME."""
    return folder_lock(ds / ".lock", f"dataset {ds}")


def digest(path: Path) -> str:
    """sha256 of a manifest's bytes (recorded with each model for provenance)."""
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else ""


def summary(rows: list[dict], key: str = "category") -> list[dict]:
    """Counts per `key` (category, query) and status, for the end-of-run table."""
    values = sorted({r[key] for r in rows})
    return [{key: v, **{s: sum(r[key] == v and r["status"] == s for r in rows) for s in STATUSES}}
            for v in values]


def adopt(ds: Path, log=print) -> int:
    """Index the learner's own photos (data/NAME/images/<category>/, put there by hand: no manifest yet) as kept
    rows, so cleaning works on them as on fetched ones; unreadable files are left out with a line. How many."""
    from ..errors import DataError
    from ..images import open_image
    from .folders import class_images

    rows = []
    for category, files in class_images(ds / "images", log).items():
        for f in files:
            try:
                img = open_image(f)
            except DataError as e:
                log(f"skipped: {e}")
                continue
            rows.append({"status": "kept", "category": category, "url": f.resolve().as_uri(), "query": "own photos",
                         "sha256": hashlib.sha256(f.read_bytes()).hexdigest(), "width": img.width,
                         "height": img.height, "path": f.relative_to(ds).as_posix()})
    if rows:
        write(ds / "manifest.csv", rows)
    return len(rows)
