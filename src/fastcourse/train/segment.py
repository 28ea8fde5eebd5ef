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
    """The numbers that say how good the model is."""
    dice = f", mean Dice {metrics['mean_dice']:.3f}" if "mean_dice" in metrics else ""
    return f"pixel accuracy {metrics['pixel_accuracy']:.2%}{dice}"


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
    learn, pretrained, why = pretrained_or_scratch(lambda pre: unet_learner(dls, arch, pretrained=pre),
                                                   cfg.pretrained, cfg.arch)
    learn._fc_codes = [str(c) for c in codes]
    return learn, pretrained, why


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
    dice = {}
    for i, code in enumerate(codes or range(int(targets.max()) + 1)):
        p, t = preds == i, targets == i
        both = int(p.sum() + t.sum())
        if both:
            dice[str(code)] = round(2 * int((p & t).sum()) / both, 6)
    return {"pixel_accuracy": round(float((preds == targets).float().mean()), 6), "valid_items": int(len(targets)),
            "classes": codes, "dice": dice, "mean_dice": round(sum(dice.values()) / max(1, len(dice)), 6)}


def summary(learn) -> list[dict]:
    """Images in the training and validation sets, and the classes every pixel is one of."""
    codes = ", ".join(map(str, getattr(learn, "_fc_codes", []) or []))
    return [{"set": "training", "images": len(learn.dls.train_ds), "classes": codes},
            {"set": "validation", "images": len(learn.dls.valid_ds), "classes": codes}]


def plot(learn, out: Path, n: int = 4) -> None:
    """plot.png: input images, their masks and the model's masks."""
    from PIL import Image

    from ..plots import pyplot, save

    from matplotlib.patches import Patch

    from ..images import PALETTE, mask_image

    preds, targets = _preds(learn)
    items = learn.dls.valid.items[:n]
    plt = pyplot()
    fig, axes = plt.subplots(3, len(items), figsize=(2.4 * len(items), 7.8), squeeze=False)
    for j, item in enumerate(items):
        for i, (pic, title) in enumerate(((Image.open(item), "input"),
                                          (mask_image(targets[j].numpy()).convert("RGB"), "target"),
                                          (mask_image(preds[j].numpy()).convert("RGB"), "prediction"))):
            axes[i, j].imshow(pic)
            axes[i, j].set_title(title, fontsize=9)
            axes[i, j].axis("off")
    codes = getattr(learn, "_fc_codes", None) or [str(i) for i in range(int(targets.max()) + 1)]
    fig.legend(handles=[Patch(color=[c / 255 for c in PALETTE[i % len(PALETTE)]], label=code)
                        for i, code in enumerate(codes)], loc="lower center", ncol=len(codes), fontsize=9)
    save(fig, out / "plot.png")
