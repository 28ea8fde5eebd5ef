"""Image I/O and its limits, shared by data, training, predict and the Space: what counts as an image,
the decompression-bomb limit, decoding with one clear line per bad file, fastai's validation resize."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from .errors import DataError

IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp", ".tif", ".tiff"}
MAX_PIXELS = 50_000_000  # larger images are bombs (Pillow warns at 89M); data.fetch uses the same number
PALETTE = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75),
           (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207)]  # a colour per class (matplotlib's tab10)


def open_image(path, max_pixels: int = MAX_PIXELS, name: str | None = None) -> Image.Image:
    """Open and fully decode an image (a path or a file object) as RGB; DataError naming it when it is
    unreadable or a bomb. The size is checked from the header, before any pixel is decoded."""
    name = name or str(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                if im.width * im.height > max_pixels:
                    raise DataError(f"{name}: {im.width}x{im.height} pixels — refused as a decompression bomb "
                                    f"(the limit is {max_pixels // 1_000_000} megapixels)")
                im.load()
                return im.convert("RGB")
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise DataError(f"{name}: refused as a decompression bomb (over Pillow's pixel limit)") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
        raise DataError(f"{name}: not a readable image ({e.__class__.__name__})") from None


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


def mask_image(mask: np.ndarray) -> Image.Image:
    """A mask of class indices as a palette image: each class its PALETTE colour, the indices kept as pixels."""
    im = Image.fromarray(mask.astype(np.uint8), "P")
    flat = [c for rgb in PALETTE for c in rgb]
    im.putpalette(flat * (768 // len(flat)) + flat[: 768 % len(flat)])
    return im


def overlay(image: Image.Image, mask: np.ndarray, alpha: float = 0.45) -> Image.Image:
    """`image` with its mask drawn over it in the PALETTE colours (class 0, the background, left clear)."""
    colours = np.array(PALETTE, dtype=np.float32)[mask % len(PALETTE)]
    base = np.asarray(image.convert("RGB").resize(mask.shape[::-1]), dtype=np.float32)
    mix = np.where((mask > 0)[..., None], base * (1 - alpha) + colours * alpha, base)
    return Image.fromarray(mix.astype(np.uint8))
