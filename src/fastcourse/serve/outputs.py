"""`inv predict` for the models that are not image classifiers, through their portable models:
a tabular model takes CSV files of rows, a collab model USER,ITEM pairs or CSV files of them, a segmentation
model images (masks written as palette PNGs). Predictions go to --out, else to the screen (CSV)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from ..errors import DataError
from ..fileio import atomic_write_bytes, atomic_write_text, read_text
from ..images import iter_images, mask_image, open_image


def read_rows(path: Path) -> list[dict]:
    """The rows of a CSV file, as dicts; DataError naming the file when it is not one."""
    try:
        rows = list(csv.DictReader(io.StringIO(read_text(path, f"{path}"))))
    except FileNotFoundError:
        raise DataError(f"{path}: no such file — give a CSV file of rows") from None
    except csv.Error as e:
        raise DataError(f"{path} is not a readable CSV ({e})") from None
    if not rows:
        raise DataError(f"{path} has no rows under its header")
    return rows


def write_rows(rows: list[dict], source: str, out: Path | None) -> list[str]:
    """Rows as CSV: to OUT (a file, or OUT/SOURCE.predictions.csv for a folder), else as lines to print."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    if not out:
        return buf.getvalue().rstrip("\n").split("\n")
    target = out / f"{Path(source).stem}.predictions.csv" if out.is_dir() else out
    atomic_write_text(target, buf.getvalue())
    return [f"{source}: {len(rows)} rows -> {target}"]


def tabular(model, inputs: list[str], out: Path | None) -> list[str]:
    """Each CSV's rows with `prediction` and its `probability` added."""
    lines = []
    for path in inputs:
        rows = read_rows(Path(path))
        for row, result in zip(rows, model.predict(rows)):
            row.update(prediction=result["label"], probability=round(result["probs"][result["label"]], 4))
        lines += write_rows(rows, path, out)
    return lines


def collab(model, inputs: list[str], out: Path | None) -> list[str]:
    """USER,ITEM pairs (typed, or the rows of CSV files with user,item or userId,movieId) with their rating."""
    pairs, typed = [], []
    for token in inputs:
        if Path(token).is_file():
            for row in read_rows(Path(token)):
                pairs.append((row.get("user", row.get("userId")), row.get("item", row.get("movieId"))))
        elif token.count(",") == 1:
            typed.append(tuple(v.strip() for v in token.split(",")))
        else:
            raise DataError(f"{token!r} is neither a USER,ITEM pair nor a CSV file — e.g. inv predict 74,8 "
                            "--model models/collab")
    rows = [{"user": u, "item": i, "rating": round(float(r), 4)}
            for (u, i), r in zip(pairs + typed, model.ratings(pairs + typed))]
    return write_rows(rows, inputs[0], out)


def segmenter(model, inputs: list[str], out: Path | None) -> list[str]:
    """Each image's mask as a palette PNG (OUT/NAME_mask.png, default beside the image)."""
    files = [p for p, error in iter_images(inputs) if not error]
    if not files:
        raise DataError("predict: no images among the inputs — give image files or folders of them")
    lines = []
    for path in files:
        mask = model.masks([open_image(path)])[0]
        target = (out or path.parent) / f"{path.stem}_mask.png"
        buf = io.BytesIO()
        mask_image(mask).save(buf, "PNG")  # looks like a mask; each pixel is still its class index
        atomic_write_bytes(target, buf.getvalue())
        lines.append(f"{path}: mask -> {target} (classes: {', '.join(model.classes)})")
    return lines


def predict_other(model, inputs: list[str], out: Path | None) -> list[str]:
    """The lines `inv predict` prints for a tabular, collab or segmentation model."""
    return {"tabular": tabular, "collab": collab, "segmenter": segmenter}[model.kind](model, inputs, out)
