"""Image-folder datasets for training: find the folder, refuse empty classes, skip unreadable images."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .errors import DataError, TrainError
from .predict import IMAGE_EXTS, open_image

MIN_PER_CLASS = 2  # fewer images than this in a class cannot be split into train and validation


def resolve_data(root: Path, data: str | None) -> Path:
    """The folder with one sub-folder per class: the embedded default, a data/NAME dataset or a path."""
    from . import embedded

    if data is None or (data == embedded.NAME and not Path(data).exists()):
        return embedded.ensure(root) / "images"  # the offline default, written on first use
    path = Path(data) if Path(data).exists() else root / "data" / data
    path = path / "images" if (path / "images").is_dir() else path
    if not path.is_dir():
        raise DataError(f"--data {data}: no such folder — give a folder with one sub-folder per class, "
                        "or a dataset name made by `inv data.build`")
    return path


def image_files(folder: Path) -> list[Path]:
    """Image files under `folder` by extension, in fastai's order (get_image_files)."""
    from fastai.vision.all import get_image_files

    return list(get_image_files(folder))


def _readable(path: Path) -> str | None:
    """None when the image decodes, else why not (one line)."""
    try:
        open_image(path)
        return None
    except DataError as e:
        return str(e)


def usable_images(folder: Path, valid_pct: float, log=print) -> list[Path]:
    """Every readable image under the class folders of `folder`; bad files are skipped with a line each.

    Refuses (TrainError) a class folder without images, fewer than two classes, and too few images
    to hold out a validation set.
    """
    classes = sorted(d for d in folder.iterdir() if d.is_dir() and not d.name.startswith("."))
    empty = [d.name for d in classes if not any(f.suffix.lower() in IMAGE_EXTS for f in d.rglob("*"))]
    if empty:
        raise TrainError(f"--data {folder}: class folder(s) {', '.join(empty)} hold no images — "
                         "add images or remove the folder")
    if len(classes) < 2:
        raise TrainError(f"--data {folder}: found {len(classes)} class folder(s) — need at least two "
                         "sub-folders, one per class")
    files = image_files(folder)
    with ThreadPoolExecutor(4) as pool:
        problems = list(pool.map(_readable, files))
    for problem in filter(None, problems):
        log(f"skipped: {problem}")
    good = [f for f, p in zip(files, problems) if p is None]
    counts = {d.name: sum(d in f.parents for f in good) for d in classes}
    few = [f"{c} ({n})" for c, n in counts.items() if n < MIN_PER_CLASS]
    if few or int(len(good) * valid_pct) < 1:
        raise TrainError(f"--data {folder}: too few readable images ({', '.join(few) or len(good)}) — "
                         f"need at least {MIN_PER_CLASS} per class and enough to hold out {valid_pct:.0%} "
                         "for validation; nothing was trained or exported")
    return good
