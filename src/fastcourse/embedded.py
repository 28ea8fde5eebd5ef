"""The embedded offline dataset: scikit-learn's handwritten digits, written as image folders."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

from . import manifest
from .errors import DataError
from .util import atomic_write_bytes, dataset_dir

NAME = "digits"  # data/digits: what `inv train` uses by default
CLASSES = ("3", "7")  # the course's MNIST_SAMPLE pair
SCALE = 4  # sklearn's 8x8 digits are written as 32x32 PNGs


def write_digits(root: Path, name: str = NAME, classes=CLASSES) -> Path:
    """Write sklearn's digits of `classes` into data/NAME/images/<class>/ with a manifest; no network.

    Rows already in the manifest win: an image deleted (quarantined) or relabeled while cleaning stays so.
    """
    from sklearn.datasets import load_digits

    bunch = load_digits()
    wanted = {str(c) for c in classes}
    unknown = wanted - {str(t) for t in range(10)}
    if unknown:
        raise DataError(f"--classes {','.join(sorted(unknown))}: no such digit — use 0..9, e.g. --classes 3,7")
    ds = dataset_dir(root, name)
    with manifest.locked(ds):
        rows = manifest.read(ds / "manifest.csv")
        rows += _new_rows(ds, bunch, wanted, {r["url"] for r in rows})
        manifest.write(ds / "manifest.csv", rows)
    return ds


def _new_rows(ds: Path, bunch, wanted: set[str], known: set[str]) -> list[dict]:
    """Write the digits not yet in the manifest; their manifest rows."""
    from PIL import Image

    rows = []
    for i, (pixels, target) in enumerate(zip(bunch.images, bunch.target)):
        if str(target) not in wanted or f"sklearn://digits/{i}" in known:
            continue
        img = Image.fromarray((pixels * (255 / 16)).round().astype("uint8"), "L").convert("RGB")
        img = img.resize((8 * SCALE, 8 * SCALE), Image.Resampling.NEAREST)
        buf = io.BytesIO()
        img.save(buf, "PNG")
        sha = hashlib.sha256(buf.getvalue()).hexdigest()
        rel = Path("images") / str(target) / f"{i:04d}.png"
        if not (ds / rel).exists():
            atomic_write_bytes(ds / rel, buf.getvalue())
        rows.append({"status": "kept", "category": str(target), "url": f"sklearn://digits/{i}",
                     "query": "embedded", "sha256": sha, "width": img.width,
                     "height": img.height, "path": rel.as_posix()})
    return rows


def ensure(root: Path, name: str = NAME) -> Path:
    """The embedded dataset's folder, writing it first if it is missing."""
    ds = dataset_dir(root, name)
    return ds if (ds / "manifest.csv").exists() else write_digits(root, name)
