"""`inv train --task segment`: fastai's unet_learner, as lesson 1 shows it on CAMVID_TINY.

Offline default: seeded synthetic images of circles and squares (data/embedded), laid out as CAMVID_TINY is
(images/, labels/NAME_P.png, codes.txt), so one labelling function, `data.folders.camvid_label`, serves both.
"""

from __future__ import annotations

from pathlib import Path

NAME = "segment"  # models/NAME
ARCH = "resnet18"  # the U-Net's encoder
EPOCHS = 6  # passes over the training images (the book: fine_tune(8) on camvid_tiny)
BS = 8  # images a batch (more steps per epoch for a from-scratch U-Net)
LR = 3e-3  # peak learning rate of the one-cycle schedule
OPTIONS = ("arch",)
FP16 = True  # mixed precision on a GPU
PLOTS = {"plot.png": "Input, target and prediction (validation)"}


def headline(metrics: dict) -> str:
    """The one number that says how good the model is."""
    return f"pixel accuracy {metrics['pixel_accuracy']:.2%}"


def learner(cfg, data: Path):
    """(learner, pretrained, why): SegmentationDataLoaders.from_label_func and a unet_learner."""
    import numpy as np
    import torchvision
    from fastai.vision.all import SegmentationDataLoaders, get_image_files, unet_learner

    from ..data.folders import camvid_label, check_camvid
    from .recipe import pretrained_or_scratch

    check_camvid(data)
    codes = np.loadtxt(data / "codes.txt", dtype=str, ndmin=1)
    dls = SegmentationDataLoaders.from_label_func(data, fnames=get_image_files(data / "images"),
                                                  label_func=camvid_label, codes=codes, bs=cfg.bs,
                                                  valid_pct=cfg.valid_pct, seed=cfg.seed)
    arch = getattr(torchvision.models, cfg.arch)
    return pretrained_or_scratch(lambda pre: unet_learner(dls, arch, pretrained=pre), cfg.pretrained, cfg.arch)


def check(cfg) -> None:
    """The encoder must be a torchvision model (unet_learner's)."""
    import torchvision

    from ..errors import OptionError

    if cfg.arch not in torchvision.models.list_models(module=torchvision.models):
        raise OptionError(f"--arch {cfg.arch}: segmentation takes a torchvision encoder, e.g. resnet18 or resnet34")


def _preds(learn):
    if getattr(learn, "_fc_preds", None) is None:
        preds, targets = learn.get_preds()
        learn._fc_preds = preds.argmax(1), targets
    return learn._fc_preds


def evaluate(learn, data: Path | None = None) -> dict:
    """Pixel accuracy on the validation images."""
    preds, targets = _preds(learn)
    codes = [l.strip() for l in (Path(data) / "codes.txt").read_text().splitlines() if l.strip()] if data else []
    return {"pixel_accuracy": round(float((preds == targets).float().mean()), 6), "valid_items": int(len(targets)),
            "classes": codes}


def plot(learn, out: Path, n: int = 4) -> None:
    """plot.png: input images, their masks and the model's masks."""
    from PIL import Image

    from ..plots import pyplot, save

    preds, targets = _preds(learn)
    items = learn.dls.valid.items[:n]
    fig, axes = pyplot().subplots(3, len(items), figsize=(2.4 * len(items), 7.2), squeeze=False)
    for j, item in enumerate(items):
        for i, (pic, title) in enumerate(((Image.open(item), "input"), (targets[j], "target"),
                                          (preds[j], "prediction"))):
            axes[i, j].imshow(pic, **({} if i == 0 else {"cmap": "tab10", "vmin": 0, "vmax": 9}))
            axes[i, j].set_title(title, fontsize=9)
            axes[i, j].axis("off")
    save(fig, out / "plot.png")


def predict(learn, inputs: list[Path], out: Path | None) -> list[str]:
    """Images in, mask PNGs (class index per pixel) out: OUT/NAME_mask.png (default: beside each image)."""
    import io

    from PIL import Image

    from ..errors import DataError
    from ..fileio import atomic_write_bytes
    from ..images import iter_images

    files = [p for p, error in iter_images(inputs) if not error]
    if not files:
        raise DataError("predict: no images among the inputs — give image files or folders of them")
    with learn.no_bar():
        preds, _ = learn.get_preds(dl=learn.dls.test_dl(files))
    lines = []
    for path, p in zip(files, preds.argmax(1).numpy().astype("uint8")):
        target = (out or path.parent) / f"{path.stem}_mask.png"
        buf = io.BytesIO()
        Image.fromarray(p, "L").save(buf, "PNG")
        atomic_write_bytes(target, buf.getvalue())
        lines.append(f"{path}: mask -> {target}")
    return lines
