"""Where a task's data is and what in it can be used: the one data lookup (`resolve`), the usable images of
an image-folder dataset, CAMVID's layout, and the course's own datasets through fastai's untar_data."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ..errors import DataError, OptionError, TrainError
from ..images import IMAGE_EXTS, open_image

MIN_PER_CLASS = 2  # fewer images than this in a class cannot be split into train and validation
ONLINE = {"adult": ("tabular", "ADULT_SAMPLE"), "movielens": ("collab", "ML_SAMPLE"),
          "camvid": ("segment", "CAMVID_TINY")}  # --data NAME -> the course's dataset (fastai URLs)


def resolve(root: Path, data: str | None, task: str = "vision") -> Path:
    """The data for `task`: its embedded default, the course's dataset by name, a data/NAME dataset or a path."""
    from . import embedded

    if data is None or (task == "vision" and data == embedded.NAME and not Path(data).exists()):
        return embedded.for_task(root, task)  # offline, written on first use
    if data in ONLINE and not Path(data).exists():
        return course_dataset(data, task)
    path = Path(data) if Path(data).exists() else Path(root) / "data" / data
    if task == "vision":
        path = path / "images" if (path / "images").is_dir() else path
        if not path.is_dir():
            raise DataError(f"--data {data}: no such folder — give a folder with one sub-folder per class, "
                            "or a dataset name made by `inv data.build`")
    elif not path.exists():
        names = ", ".join(n for n, (t, _) in ONLINE.items() if t == task)
        raise DataError(f"--data {data}: no such file or folder — omit --data for the embedded dataset, "
                        f"or name {names}")
    return path


def course_url(key: str) -> str:
    """fastai's URL for a sample dataset, or the same file under FASTCOURSE_DATA_MIRROR (a local mirror)."""
    from fastai.data.external import URLs

    url = getattr(URLs, key)
    mirror = os.environ.get("FASTCOURSE_DATA_MIRROR")
    return f"{mirror.rstrip('/')}/{url.rsplit('/', 1)[-1]}" if mirror else url


def course_dataset(name: str, task: str) -> Path:
    """The course's dataset NAME through fastai's untar_data; one line when it cannot be downloaded."""
    import urllib.error

    from fastai.data.external import untar_data

    want, key = ONLINE[name]
    if want != task:
        raise OptionError(f"--data {name} is a {want} dataset — use it with --task {want}")
    try:
        return untar_data(course_url(key))
    except (urllib.error.URLError, OSError, EOFError) as e:
        raise DataError(f"--data {name}: could not download {course_url(key)} ({type(e).__name__}) — check the "
                        f"network, or train offline on the embedded dataset (inv train --task {task})") from None


def camvid_label(image: Path) -> Path:
    """The mask of images/NAME.png: labels/NAME_P.png (CAMVID's layout). Pickled into segmentation models."""
    image = Path(image)
    return image.parent.parent / "labels" / f"{image.stem}_P{image.suffix}"


def check_camvid(data: Path) -> None:
    """DataError unless `data` has CAMVID's layout."""
    if not (Path(data) / "codes.txt").is_file() or not (Path(data) / "images").is_dir():
        raise DataError(f"--data {data}: needs images/, labels/ and codes.txt (CAMVID's layout)")


def class_images(folder: Path, log=print) -> dict[str, list[Path]]:
    """The image files directly inside each class folder of `folder`, sorted. Only real folders are classes and
    only real image files count: links and folders inside a class folder are skipped with a line each (a link
    could bring the same images into training and validation; a sub-folder would become a class of its own)."""
    classes = {}
    for d in sorted(Path(folder).iterdir()):
        if d.name.startswith(".") or not (d.is_dir() or d.is_symlink()):
            continue
        if d.is_symlink():
            log(f"skipped: {d} is a link, not a class folder — copy the images into a real folder to use them")
            continue
        files, links, subfolders = [], 0, []
        for f in sorted(d.iterdir()):
            if f.is_symlink():
                links += 1
            elif f.is_dir():
                subfolders.append(f.name)
            elif f.suffix.lower() in IMAGE_EXTS:
                files.append(f)
        if links:
            log(f"skipped: {links} link(s) in {d} — only real image files count (copy them in to use them)")
        if subfolders:
            log(f"skipped: folder(s) {', '.join(subfolders[:5])} inside the class folder {d} — move their images "
                f"up into {d.name}/ or make each a class folder of its own")
        classes[d.name] = files
    return classes


def _readable(path: Path) -> str | None:
    """None when the image decodes, else why not (one line)."""
    try:
        open_image(path)
        return None
    except DataError as e:
        return str(e)


def usable_images(folder: Path, valid_pct: float, log=print) -> list[Path]:
    """Every readable image of the class folders of `folder` (see class_images); bad files are skipped with a
    line each. Refuses (TrainError) a class folder without images, fewer than two classes, and too few images
    to hold out a validation set."""
    classes = class_images(folder, log)
    empty = [name for name, files in classes.items() if not files]
    if empty:
        raise TrainError(f"--data {folder}: class folder(s) {', '.join(empty)} hold no images — "
                         "add images or remove the folder")
    if len(classes) < 2:
        raise TrainError(f"--data {folder}: found {len(classes)} class folder(s) — need at least two "
                         "sub-folders, one per class")
    files = [f for fs in classes.values() for f in fs]
    with ThreadPoolExecutor(4) as pool:
        problems = list(pool.map(_readable, files))
    for problem in filter(None, problems):
        log(f"skipped: {problem}")
    good = [f for f, p in zip(files, problems) if p is None]
    counts = {name: sum(f.parent.name == name for f in good) for name in classes}
    few = [f"{c} ({n})" for c, n in counts.items() if n < MIN_PER_CLASS]
    if few or int(len(good) * valid_pct) < 1:
        raise TrainError(f"--data {folder}: too few readable images ({', '.join(few) or len(good)}) — "
                         f"need at least {MIN_PER_CLASS} per class and enough to hold out {valid_pct:.0%} "
                         "for validation; nothing was trained or exported")
    return good
