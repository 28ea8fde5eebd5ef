"""The embedded offline dataset: scikit-learn's handwritten digits, written as image folders."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

from . import manifest
from .util import atomic_write_bytes

NAME = "digits"  # data/digits: what `inv train` uses by default
CLASSES = ("3", "7")  # the course's MNIST_SAMPLE pair
SCALE = 4  # sklearn's 8x8 digits are written as 32x32 PNGs


def write_digits(root: Path, name: str = NAME, classes=CLASSES) -> Path:
    """Write sklearn's digits of `classes` into data/NAME/images/<class>/ with a manifest; no network."""
    from PIL import Image
    from sklearn.datasets import load_digits

    bunch = load_digits()
    wanted = {str(c) for c in classes}
    unknown = wanted - {str(t) for t in range(10)}
    if unknown:
        raise ValueError(f"digit classes {sorted(unknown)} do not exist — use 0..9, e.g. 3,7")
    ds = manifest.dataset_dir(root, name)
    rows = []
    for i, (pixels, target) in enumerate(zip(bunch.images, bunch.target)):
        if str(target) not in wanted:
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
    manifest.write(ds / "manifest.csv", rows)
    return ds


def ensure(root: Path, name: str = NAME) -> Path:
    """The embedded dataset's folder, writing it first if it is missing."""
    ds = manifest.dataset_dir(root, name)
    return ds if (ds / "manifest.csv").exists() else write_digits(root, name)
