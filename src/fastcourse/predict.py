"""Portable inference: model.onnx + model.json with onnxruntime, Pillow and NumPy (no torch, no fastai)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from .errors import DataError, ModelError

IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp", ".tif", ".tiff"}
MAX_PIXELS = 50_000_000  # larger images are bombs (Pillow warns at 89M); fetch.FetchOptions.max_pixels is the same
# limit, kept there as a literal: importing this module (numpy) would slow every `inv` start-up
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


def fit_image(img: Image.Image, size: tuple[int, int], method: str, pad_mode: str) -> Image.Image:
    """fastai's validation-time Resize (squish / centre crop / centre pad) with PIL and NumPy."""
    w, h = img.size
    tw, th = size
    if method == "squish":
        return img.resize((tw, th), Image.Resampling.BILINEAR)
    fits = (lambda a, b: a < b) if method == "crop" else (lambda a, b: a > b)
    m = w / tw if fits(w / tw, h / th) else h / th
    cw, ch = int(m * tw), int(m * th)
    left, top = int(0.5 * (w - cw)), int(0.5 * (h - ch))
    if left >= 0 or top >= 0 or left + cw <= w or top + ch <= h:  # crop what lies inside
        img = img.crop((max(left, 0), max(top, 0), min(left + cw, w), min(top + ch, h)))
    if left < 0 or top < 0 or left + cw >= w or top + ch >= h:  # then pad what lies outside
        pads = ((max(-top, 0), max(ch - h + top, 0)), (max(-left, 0), max(cw - w + left, 0)), (0, 0))
        mode = {"reflection": "reflect", "border": "edge"}.get(pad_mode.lower(), "constant")
        img = Image.fromarray(np.pad(np.asarray(img), pads, mode=mode))
    return img.resize((tw, th), Image.Resampling.BILINEAR)


def iter_images(paths: list[str | Path]):
    """Expand files and directories into (path, error) pairs, files sorted, directories recursed."""
    for p in map(Path, paths):
        if p.is_dir():
            for f in sorted(p.rglob("*")):
                if f.is_file() and f.suffix.lower() in IMAGE_EXTS:
                    yield f, None
        elif p.is_file():
            yield p, None
        else:
            yield p, "no such file"


def open_image(path: Path, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Open and fully decode an image; DataError naming the file when it is unreadable or a bomb."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                if im.width * im.height > max_pixels:
                    raise DataError(f"{path}: {im.width}x{im.height} pixels — refused as a decompression bomb")
                im.load()
                return im.convert("RGB")
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise DataError(f"{path}: refused as a decompression bomb ({str(e)[:60]})") from e
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
        raise DataError(f"{path}: not a readable image ({e.__class__.__name__})") from e


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
