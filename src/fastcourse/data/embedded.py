"""The embedded offline datasets, one per task, made from what installed packages ship (no network):

- digits (vision): scikit-learn's handwritten 3s and 7s as image folders, with a manifest;
- penguins (tabular): the CSV the palmerpenguins package ships;
- ratings (collab): ratings from seeded latent factors plus noise (the best MSE is the noise variance);
- shapes (segment): seeded circles and squares with per-pixel masks, in CAMVID_TINY's layout.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

from ..errors import DataError
from ..fileio import atomic_write_bytes, atomic_write_text
from ..paths import dataset_dir
from . import manifest
from .folders import camvid_label

NAME = "digits"  # data/digits: what `inv train` uses by default
CLASSES = ("3", "7")  # the course's MNIST_SAMPLE pair
SCALE = 4  # sklearn's 8x8 digits are written as 32x32 PNGs
RATINGS_FILE = "ratings.csv"  # data/ratings/ratings.csv
USERS, ITEMS, TRUE_FACTORS, N_RATINGS = 150, 150, 2, 20_000  # the generated ratings (~107 a user)
RATING_NOISE = 0.5  # standard deviation of the rating noise: the noise floor is 0.25
SHAPES, SIDE = 100, 40  # the generated segmentation images: how many, and their side (small: 2 CPU cores)
CODES = ["background", "circle", "square"]


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


def for_task(root: Path, task: str) -> Path:
    """The embedded dataset of `task`, written on first use: a folder of class folders, a CSV, or CAMVID-style."""
    if task == "vision":
        return ensure(root) / "images"
    return {"tabular": penguins, "collab": ratings, "segment": shapes}[task](root)


def penguins(root: Path) -> Path:
    """data/penguins/penguins.csv, copied from the installed palmerpenguins package."""
    from palmerpenguins import load_penguins

    path = dataset_dir(root, "penguins") / "penguins.csv"
    if not path.exists():
        atomic_write_text(path, load_penguins().to_csv(index=False))
    return path


def generate_ratings(seed: int = 0):
    """A DataFrame user,item,rating = 3 + biases + u·v + noise, for distinct (user, item) pairs."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    u = rng.normal(0, 0.6, (USERS, TRUE_FACTORS))
    v = rng.normal(0, 0.6, (ITEMS, TRUE_FACTORS))
    bu, bi = rng.normal(0, 0.3, USERS), rng.normal(0, 0.3, ITEMS)
    pairs = rng.choice(USERS * ITEMS, N_RATINGS, replace=False)
    users, items = pairs // ITEMS, pairs % ITEMS
    rating = 3 + bu[users] + bi[items] + (u[users] * v[items]).sum(1) + rng.normal(0, RATING_NOISE, N_RATINGS)
    return pd.DataFrame({"user": users, "item": items, "rating": rating.round(4)})


def ratings(root: Path) -> Path:
    """data/ratings/ratings.csv, generated (seeded) on first use."""
    path = dataset_dir(root, "ratings") / RATINGS_FILE
    if not path.exists():
        atomic_write_text(path, generate_ratings().to_csv(index=False))
    return path


def _shape_sample(rng):
    """One image and its mask: 1-3 shapes of random size, place and colour family."""
    import numpy as np
    from PIL import Image, ImageDraw

    img = Image.fromarray(rng.integers(70, 150, (SIDE, SIDE, 3), dtype=np.uint8))
    mask = Image.new("L", (SIDE, SIDE), 0)
    di, dm = ImageDraw.Draw(img), ImageDraw.Draw(mask)
    for _ in range(rng.integers(1, 4)):
        code = int(rng.integers(1, 3))
        r = int(rng.integers(7, 16))
        x, y = (int(v) for v in rng.integers(r, SIDE - r, 2))
        base = (200, 60, 60) if code == 1 else (50, 70, 200)
        colour = tuple(int(np.clip(c + rng.integers(-30, 31), 0, 255)) for c in base)
        box = (x - r, y - r, x + r, y + r)
        (di.ellipse if code == 1 else di.rectangle)(box, fill=colour)
        (dm.ellipse if code == 1 else dm.rectangle)(box, fill=code)
    return img, mask


def shapes(root: Path, seed: int = 0) -> Path:
    """data/shapes/ with images/, labels/ and codes.txt, generated (seeded) on first use."""
    import numpy as np

    ds = dataset_dir(root, "shapes")
    if (ds / "codes.txt").exists():
        return ds
    rng = np.random.default_rng(seed)
    for i in range(SHAPES):
        img, mask = _shape_sample(rng)
        image = ds / "images" / f"{i:04d}.png"
        for picture, path in ((img, image), (mask, camvid_label(image))):
            buf = io.BytesIO()
            picture.save(buf, "PNG")
            atomic_write_bytes(path, buf.getvalue())
    atomic_write_text(ds / "codes.txt", "\n".join(CODES) + "\n")  # written last: marks the set complete
    return ds


def describe(path: Path) -> str | None:
    """What an embedded dataset (or one of the course's) is, in words; None for the learner's own data."""
    names = {"digits": "the embedded digits: scikit-learn's handwritten 3s and 7s (the course's MNIST sample), "
                       "32x32 pixels",
             "penguins": "the embedded Palmer penguins: 344 penguins of three species, measured on three islands",
             "ratings": f"the embedded ratings: {N_RATINGS} ratings of {ITEMS} items by {USERS} users, made from "
                        f"hidden factors plus noise (the best possible MSE is {RATING_NOISE ** 2:.2f})",
             "shapes": f"the embedded shapes: {SHAPES} images of circles and squares with a class for every pixel"}
    course = {"adult_sample": "the course's ADULT_SAMPLE (census income: does a person earn over 50k?)",
              "movie_lens_sample": "the course's ML_SAMPLE (MovieLens ratings)",
              "camvid_tiny": "the course's CAMVID_TINY (street scenes, a class for every pixel)"}
    p = Path(path)
    for folder in (p, p.parent):
        if folder.parent.name == "data" and folder.name in names:
            return names[folder.name]
        if folder.name in course:
            return course[folder.name]
    return None
