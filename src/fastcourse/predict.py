"""Portable inference: model.onnx + model.json with onnxruntime, Pillow and NumPy (no torch, no fastai)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from . import schema
from .errors import DataError, ModelError
from .images import fit_image, iter_images, open_image


class PortableModel:
    """A classifier exported by fastcourse: `PortableModel("models/NAME").predict([img, ...])`."""

    def __init__(self, folder: str | Path):
        folder = Path(folder)
        onnx_path = folder / "model.onnx"
        self.spec = schema.model_spec(folder)
        if not onnx_path.is_file():
            raise ModelError(f"{onnx_path} not found — train a model first (inv train) or pass --model models/NAME")
        self.session = session(onnx_path)
        self.classes = self.spec["classes"]
        outputs = self.session.get_outputs()[0].shape
        if isinstance(outputs[-1], int) and outputs[-1] != len(self.classes):
            raise ModelError(f"{folder / 'model.json'}: classes lists {len(self.classes)} names but model.onnx gives "
                             f"{outputs[-1]} outputs — {schema.RETRAIN}")
        self.mean = np.array(self.spec["mean"], dtype=np.float32).reshape(3, 1, 1)
        self.std = np.array(self.spec["std"], dtype=np.float32).reshape(3, 1, 1)

    def preprocess(self, img: Image.Image) -> np.ndarray:
        """An image as the model's input array (CHW float32), exactly as fastai prepares it."""
        h, w = self.spec["size"]
        img = fit_image(img.convert("RGB"), (w, h), self.spec["resize"], self.spec["pad_mode"])
        arr = np.asarray(img, dtype=np.float32).transpose(2, 0, 1) / 255.0
        return (arr - self.mean) / self.std

    def probs(self, images: list[Image.Image]) -> np.ndarray:
        """Class probabilities for a batch of PIL images, shape (n, classes)."""
        batch = np.stack([self.preprocess(im) for im in images])
        return self.session.run(None, {"image": batch})[0]

    def predict(self, images: list[Image.Image]) -> list[dict]:
        """Label and per-class probabilities for each image."""
        return [{"label": self.classes[int(p.argmax())],
                 "probs": {c: float(v) for c, v in zip(self.classes, p)}} for p in self.probs(images)]


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
