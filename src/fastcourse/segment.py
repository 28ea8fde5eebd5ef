"""`inv train --task segment`: fastai's unet_learner, as lesson 1 shows it on CAMVID_TINY.

Offline default: seeded synthetic images of circles and squares on a noisy background, with per-pixel
masks, laid out as CAMVID_TINY is (images/, labels/NAME_P.png, codes.txt), so one labeling function serves
both. That function lives here, importable, so `load_learner` works in any process.
"""

from __future__ import annotations

from pathlib import Path

from .errors import DataError
from .util import atomic_write_bytes, atomic_write_text, dataset_dir

EPOCHS = 6  # passes over the training images (the book: fine_tune(8) on camvid_tiny)
LR = 3e-3  # peak learning rate of the one-cycle schedule
ARCH = "resnet18"  # the U-Net's encoder
N_IMAGES, SIDE = 100, 40  # the generated data: how many images, and their side (small: 2 CPU cores, < 60 s)
BS = 8  # at most this many images a batch (more steps per epoch for a from-scratch U-Net)
CODES = ["background", "circle", "square"]
PLOT_TITLE = "Input, target and prediction (validation)"


def label_of(image: Path) -> Path:
    """The mask of images/NAME.png: labels/NAME_P.png (CAMVID's layout)."""
    return image.parent.parent / "labels" / f"{image.stem}_P{image.suffix}"


def _sample(rng):
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


def embedded(root: Path, seed: int = 0) -> Path:
    """data/shapes/ with images/, labels/ and codes.txt, generated (seeded) on first use."""
    import io

    import numpy as np

    ds = dataset_dir(root, "shapes")
    if (ds / "codes.txt").exists():
        return ds
    rng = np.random.default_rng(seed)
    for i in range(N_IMAGES):
        img, mask = _sample(rng)
        for picture, path in ((img, ds / "images" / f"{i:04d}.png"), (mask, label_of(ds / "images" / f"{i:04d}.png"))):
            buf = io.BytesIO()
            picture.save(buf, "PNG")
            atomic_write_bytes(path, buf.getvalue())
    atomic_write_text(ds / "codes.txt", "\n".join(CODES) + "\n")  # written last: marks the set complete
    return ds


def learner(cfg, data: Path):
    """SegmentationDataLoaders.from_label_func and a unet_learner (pretrained encoder when it can be had)."""
    import numpy as np
    import torchvision
    from fastai.vision.all import SegmentationDataLoaders, get_image_files, unet_learner

    if not (data / "codes.txt").is_file() or not (data / "images").is_dir():
        raise DataError(f"--data {data}: needs images/, labels/ and codes.txt (CAMVID's layout)")
    codes = np.loadtxt(data / "codes.txt", dtype=str)
    dls = SegmentationDataLoaders.from_label_func(data, fnames=get_image_files(data / "images"), label_func=label_of,
                                                  codes=codes, bs=min(cfg.bs, BS), valid_pct=cfg.valid_pct,
                                                  seed=cfg.seed)
    arch = getattr(torchvision.models, ARCH)
    if cfg.pretrained is not False:
        try:
            learn = unet_learner(dls, arch, pretrained=True)
            learn.fc_pretrained = True
            return learn
        except Exception as e:  # no network, firewall: fall back, as vision does
            if cfg.pretrained:
                from .errors import TrainError

                raise TrainError(f"pretrained {ARCH} weights could not be loaded ({type(e).__name__}) — "
                                 "check the network or run with --no-pretrained") from e
            print(f"WARNING: pretrained {ARCH} weights unavailable ({type(e).__name__}) — training from scratch")
    return unet_learner(dls, arch, pretrained=False)


def _preds(learn):
    preds, targets = learn.get_preds()
    return preds.argmax(1), targets


def evaluate(learn) -> dict:
    """Pixel accuracy on the validation images."""
    preds, targets = _preds(learn)
    return {"pixel_accuracy": round(float((preds == targets).float().mean()), 6), "valid_items": int(len(targets))}


def plot(learn, png: Path, n: int = 4) -> None:
    """A grid: input images, their masks and the model's masks."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from PIL import Image

    from .applications import save_plot

    preds, targets = _preds(learn)
    items = learn.dls.valid.items[:n]
    fig, axes = plt.subplots(3, len(items), figsize=(2.4 * len(items), 7.2), squeeze=False)
    for j, item in enumerate(items):
        for i, (pic, title) in enumerate(((Image.open(item), "input"), (targets[j], "target"),
                                          (preds[j], "prediction"))):
            axes[i, j].imshow(pic, **({} if i == 0 else {"cmap": "tab10", "vmin": 0, "vmax": 9}))
            axes[i, j].set_title(title, fontsize=9)
            axes[i, j].axis("off")
    save_plot(fig, png)


def predict(learn, inputs: list[Path], out: Path | None) -> list[str]:
    """Images in, mask PNGs (class index per pixel) out: OUT/NAME_mask.png (default: beside each image)."""
    from PIL import Image

    from .predict import iter_images

    files = [p for p, error in iter_images(inputs) if not error]
    if not files:
        raise DataError("predict: no images among the inputs — give image files or folders of them")
    with learn.no_bar():
        preds, _ = learn.get_preds(dl=learn.dls.test_dl(files))
    lines = []
    import io

    for path, p in zip(files, preds.argmax(1).numpy().astype("uint8")):
        target = (out or path.parent) / f"{path.stem}_mask.png"
        buf = io.BytesIO()
        Image.fromarray(p, "L").save(buf, "PNG")
        atomic_write_bytes(target, buf.getvalue())
        lines.append(f"{path}: mask -> {target}")
    return lines
