"""Portable inference for every kind of model the kit trains: model.onnx + model.json with onnxruntime,
Pillow and NumPy (no torch, no fastai, no pickle). `load(folder)` gives the model of the folder's kind:

    PortableModel (image classifier)  .predict([img, ...]) -> [{label, probs}]
    Segmenter                         .masks([img, ...])   -> [class index per pixel, at each image's size]
    Tabular                           .predict(rows)       -> [{label, probs}]   (rows: dicts of column -> value)
    Collab                            .rating(user, item), .top(user, n)
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image

from . import schema
from .errors import DataError, ModelError
from .images import fit_image, iter_images, open_image


def session(onnx_path: Path):
    """An onnxruntime session on the CPU; ModelError when the file is not a model it can run."""
    try:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        return ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime's own exception types are not importable by name
        raise ModelError(f"{onnx_path.parent} holds a broken model ({type(e).__name__}: {str(e)[:120]}) — "
                         f"{schema.RETRAIN}") from e


class Portable:
    """What every portable model has: its folder, its checked spec (model.json) and an onnxruntime session."""

    kind = ""

    def __init__(self, folder: str | Path, spec: dict | None = None):
        self.folder = Path(folder)
        self.spec = spec or schema.model_spec(self.folder)
        if self.spec["kind"] != self.kind:
            raise ModelError(f"{self.folder} holds a {self.spec['kind']} model, not a {self.kind} — use it with "
                             "inv predict / inv app, which take every kind")
        onnx = self.folder / "model.onnx"
        if not onnx.is_file():
            raise ModelError(f"{onnx} not found — train a model first (inv train) or pass --model models/NAME")
        self.session = session(onnx)
        self.names = [i.name for i in self.session.get_inputs()]

    def run(self, *arrays) -> np.ndarray:
        return self.session.run(None, dict(zip(self.names, arrays)))[0]


class _Images(Portable):
    """Image models: the preprocessing fastai applies before the model."""

    def __init__(self, folder, spec=None):
        super().__init__(folder, spec)
        self.classes = self.spec["classes"]
        self.mean = np.array(self.spec["mean"], dtype=np.float32).reshape(3, 1, 1)
        self.std = np.array(self.spec["std"], dtype=np.float32).reshape(3, 1, 1)
        outputs = self.session.get_outputs()[0].shape
        if len(outputs) > 1 and isinstance(outputs[1], int) and outputs[1] != len(self.classes):
            raise ModelError(f"{self.folder / 'model.json'}: classes lists {len(self.classes)} names but model.onnx "
                             f"gives {outputs[1]} outputs — {schema.RETRAIN}")

    def preprocess(self, img: Image.Image) -> np.ndarray:
        """An image as the model's input array (CHW float32), exactly as fastai prepares it."""
        h, w = self.spec["size"]
        img = fit_image(img.convert("RGB"), (w, h), self.spec.get("resize", "squish"), self.spec.get("pad_mode", "zeros"))
        arr = np.asarray(img, dtype=np.float32).transpose(2, 0, 1) / 255.0
        return (arr - self.mean) / self.std


class PortableModel(_Images):
    """An image classifier: `PortableModel("models/NAME").predict([img, ...])`."""

    kind = "classifier"

    def probs(self, images: list[Image.Image]) -> np.ndarray:
        """Class probabilities for a batch of PIL images, shape (n, classes)."""
        return self.run(np.stack([self.preprocess(im) for im in images]))

    def predict(self, images: list[Image.Image]) -> list[dict]:
        """Label and per-class probabilities for each image."""
        return [{"label": self.classes[int(p.argmax())],
                 "probs": {c: float(v) for c, v in zip(self.classes, p)}} for p in self.probs(images)]


class Segmenter(_Images):
    """A segmentation model: a class for every pixel."""

    kind = "segmenter"

    def masks(self, images: list[Image.Image]) -> list[np.ndarray]:
        """Each image's mask of class indices, at the image's own size (nearest-neighbour from the model's)."""
        probs = self.run(np.stack([self.preprocess(im) for im in images]))
        return [np.asarray(Image.fromarray(p.argmax(0).astype(np.uint8)).resize(im.size, Image.Resampling.NEAREST))
                for p, im in zip(probs, images)]


class Tabular(Portable):
    """A tabular classifier with fastai's preprocessing: Categorify, FillMissing, Normalize."""

    kind = "tabular"

    def encode(self, rows: list[dict]) -> tuple[np.ndarray, np.ndarray]:
        """(categories, numbers) of `rows` as the model takes them; DataError naming a number that is not one."""
        s, cat, cont = self.spec, [], []
        for n, row in enumerate(rows, start=1):
            values = {}
            for c in s["cont_names"]:
                v = row.get(c)
                try:
                    x = float(v) if v not in (None, "") else math.nan
                except (TypeError, ValueError):
                    raise DataError(f"row {n}: {c} is {v!r}, not a number") from None
                values[c] = x
            cats = []
            for c in s["cat_names"]:
                if c.endswith("_na") and c[:-3] in s["fill"]:
                    v = str(math.isnan(values[c[:-3]]))
                else:
                    v = "" if row.get(c) is None or row.get(c) != row.get(c) else str(row.get(c))
                cats.append(s["categories"][c].index(v) if v in s["categories"][c] else 0)  # 0: fastai's #na#
            cat.append(cats)
            cont.append([((s["fill"].get(c, s["means"][c]) if math.isnan(values[c]) else values[c]) - s["means"][c])
                         / s["stds"][c] for c in s["cont_names"]])
        return np.array(cat, dtype=np.int64).reshape(len(rows), -1), np.array(cont, dtype=np.float32).reshape(len(rows), -1)

    def predict(self, rows: list[dict]) -> list[dict]:
        """Label and per-class probabilities for each row."""
        classes = self.spec["classes"]
        return [{"label": classes[int(p.argmax())], "probs": {c: float(v) for c, v in zip(classes, p)}}
                for p in self.run(*self.encode(rows))]


class Collab(Portable):
    """A collaborative-filtering model: a rating for a user and an item it knows."""

    kind = "collab"

    def index(self, what: str, value) -> int:
        ids = self.spec[f"{what}s"]
        if str(value) not in ids[1:]:
            raise DataError(f"{what} {value!r} is not one the model was trained on (e.g. {', '.join(ids[1:4])})")
        return ids.index(str(value))

    def ratings(self, pairs: list[tuple]) -> np.ndarray:
        """The predicted rating of each (user, item) pair."""
        x = np.array([[self.index("user", u), self.index("item", i)] for u, i in pairs], dtype=np.int64)
        return self.run(x).reshape(-1)

    def top(self, user, n: int = 5) -> list[tuple[str, float]]:
        """The n items with the highest predicted rating for `user`."""
        u, items = self.index("user", user), self.spec["items"][1:]
        x = np.array([[u, k] for k in range(1, len(items) + 1)], dtype=np.int64)
        scores = self.run(x).reshape(-1)
        return [(items[k], float(scores[k])) for k in np.argsort(-scores)[:n]]


KINDS = {"classifier": PortableModel, "segmenter": Segmenter, "tabular": Tabular, "collab": Collab}


def load(folder: str | Path) -> Portable:
    """The portable model in `folder`, of whatever kind its model.json says."""
    spec = schema.model_spec(Path(folder))
    return KINDS[spec["kind"]](folder, spec)


def predict_paths(model: PortableModel, paths: list, bs: int = 64):
    """Yield (path, result, error) for each input; bad files yield an error and do not stop the rest."""
    batch: list[tuple[Path, Image.Image]] = []

    def flush():
        results = model.predict([im for _, im in batch]) if batch else []
        out = [(p, r, None) for (p, _), r in zip(batch, results)]
        batch.clear()
        return out

    for path, error in iter_images(paths):
        if error:
            yield path, None, error
            continue
        try:
            batch.append((path, open_image(path)))
        except DataError as e:
            yield path, None, str(e)
            continue
        if len(batch) >= bs:
            yield from flush()
    yield from flush()
