"""Portable inference: model.onnx + model.json with onnxruntime, Pillow and NumPy (no torch, no fastai)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from .errors import DataError, ModelError
from .images import fit_image, iter_images, open_image
SPEC_KEYS = ("classes", "size", "resize", "pad_mode", "mean", "std")


class PortableModel:
    """A classifier exported by fastcourse: `PortableModel("models/NAME").predict([img, ...])`."""

    def __init__(self, folder: str | Path):
        folder = Path(folder)
        spec_path, onnx_path = folder / "model.json", folder / "model.onnx"
        for p in (spec_path, onnx_path):
            if not p.is_file():
                raise ModelError(f"{p} not found — train a model first (inv train) or pass --model models/NAME")
        try:
            self.spec = json.loads(spec_path.read_text())
        except (ValueError, OSError) as e:
            raise ModelError(f"{spec_path} is not readable JSON ({type(e).__name__}) — export the model again "
                             "with inv train") from e
        missing = [k for k in SPEC_KEYS if k not in self.spec] if isinstance(self.spec, dict) else list(SPEC_KEYS)
        if missing or not self.spec.get("classes"):
            raise ModelError(f"{spec_path} lacks {', '.join(missing) or 'classes'} — it was not written by "
                             "fastcourse; export the model again with inv train")
        try:
            import onnxruntime as ort

            opts = ort.SessionOptions()
            opts.log_severity_level = 3
            self.session = ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime's own exception types are not importable by name
            raise ModelError(f"{folder} holds a broken model ({type(e).__name__}: {str(e)[:120]}) — "
                             "export it again with inv train") from e
        self.classes = [str(c) for c in self.spec["classes"]]
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
