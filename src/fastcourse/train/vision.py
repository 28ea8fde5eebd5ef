"""`inv train` (the default task): an image classifier the course's way — DataBlock, vision_learner,
fine_tune — with a recipe that also learns offline. Its defaults are options of `inv train`."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import OptionError
from .recipe import log, pretrained_or_scratch

NAME = "digits"  # models/NAME/ holds the artifacts
ARCH = "resnet18"  # torchvision or timm architecture name
SIZE = 64  # side in pixels of the images fed to the model (the course uses 192-224 for photos)
EPOCHS = 5  # passes over the training set (5 reaches 0% on the embedded digits from scratch)
BS = 32  # batch size
LR_PRETRAINED, LR_SCRATCH = 2e-3, 1e-2  # fine_tune from pretrained / one-cycle from scratch
OPTIONS = ("arch", "size", "resize")  # what this task reads beyond the common options
FP16 = True  # mixed precision on a GPU
PLOTS = {"confusion_matrix.png": "Confusion matrix", "top_losses.png": "Top losses"}


def headline(metrics: dict) -> str:
    """The one number that says how good the model is."""
    return f"error rate {metrics['error_rate']:.2%}"


def resolve_arch(name: str):
    """A torchvision model builder, or the name itself for timm; OptionError for an unknown name."""
    import torchvision

    if name in torchvision.models.list_models(module=torchvision.models):
        return getattr(torchvision.models, name)
    try:
        import timm
    except ImportError:
        raise OptionError(f"--arch {name}: not a torchvision model, and timm (for other names) is not "
                          "installed — use e.g. resnet18/resnet34/convnext_tiny, or pip install timm") from None
    if not timm.list_models(name):
        raise OptionError(f"--arch {name}: no torchvision or timm model has this name — "
                          "e.g. resnet18, resnet34, convnext_tiny (see timm.list_models())")
    return name


def check(cfg) -> None:
    """What can be checked before any file is touched."""
    resolve_arch(cfg.arch)


def make_dls(cfg, files: list[Path], device=None):
    """DataLoaders over `files`: parent folder = label, seeded random split, resize, light augmentation."""
    import torch
    from fastai.vision.all import (CategoryBlock, DataBlock, ImageBlock, Normalize, RandomSplitter,
                                   Resize, ResizeMethod, aug_transforms, imagenet_stats, parent_label)

    method = {"squish": ResizeMethod.Squish, "crop": ResizeMethod.Crop, "pad": ResizeMethod.Pad}[cfg.resize]
    block = DataBlock(
        blocks=(ImageBlock, CategoryBlock), get_y=parent_label,
        splitter=RandomSplitter(valid_pct=cfg.valid_pct, seed=cfg.seed),
        item_tfms=Resize(cfg.size, method=method),
        batch_tfms=[*aug_transforms(do_flip=False, max_rotate=10.0), Normalize.from_stats(*imagenet_stats)])
    workers = min(8, os.cpu_count() or 1) if torch.cuda.is_available() else 0
    n_train = len(files) - int(len(files) * cfg.valid_pct)
    if cfg.bs > n_train:
        log(f"note: --bs {cfg.bs} is more than the {n_train} training images; using --bs {n_train}")
    return block.dataloaders(files, bs=min(cfg.bs, n_train), num_workers=workers, device=device)


def learner(cfg, data: Path):
    """(learner, pretrained, why) for an image-folder dataset: its usable images, then a vision_learner."""
    from fastai.vision.all import error_rate, vision_learner

    from .. import fixes  # noqa: F401 — timm's NHWC features under fastai's head (swin, swinv2)
    from ..data.folders import usable_images

    dls = make_dls(cfg, usable_images(data, cfg.valid_pct, log=log))
    arch = resolve_arch(cfg.arch)
    return pretrained_or_scratch(lambda pre: vision_learner(dls, arch, pretrained=pre, metrics=error_rate),
                                 cfg.pretrained, cfg.arch)


def lr(cfg, pretrained: bool) -> float:
    """The peak learning rate the recipe uses."""
    return cfg.lr or (LR_PRETRAINED if pretrained else LR_SCRATCH)


def fit(learn, cfg, pretrained: bool) -> None:
    """fine_tune when pretrained (the course's recipe); unfrozen fit_one_cycle from scratch."""
    if pretrained:
        learn._fc_freeze_first = True  # fine_tune's first epoch trains the new head only (the report says so)
        learn.fine_tune(cfg.epochs, base_lr=lr(cfg, pretrained))
    else:
        learn.fit_one_cycle(cfg.epochs, lr_max=lr(cfg, pretrained))


def per_class(cm, classes) -> dict:
    """Precision and recall per class from a confusion matrix (rows = actual)."""
    out = {}
    for i, c in enumerate(classes):
        tp, predicted, actual = cm[i, i], cm[:, i].sum(), cm[i, :].sum()
        out[str(c)] = {"precision": float(tp / predicted) if predicted else 0.0,
                       "recall": float(tp / actual) if actual else 0.0, "support": int(actual)}
    return out


def evaluate(learn, data: Path | None = None) -> dict:
    """Error rate, accuracy and precision/recall per class on the validation images."""
    from fastai.vision.all import ClassificationInterpretation

    cm = ClassificationInterpretation.from_learner(learn).confusion_matrix()
    total = int(cm.sum())
    accuracy = float(cm.trace() / total) if total else 0.0
    return {"error_rate": round(1 - accuracy, 6), "accuracy": round(accuracy, 6), "valid_items": total,
            "per_class": per_class(cm, list(learn.dls.vocab))}


def summary(learn) -> list[dict]:
    """Images per class in the training and validation sets."""
    from collections import Counter

    counts = [Counter(Path(f).parent.name for f in ds.items) for ds in (learn.dls.train_ds, learn.dls.valid_ds)]
    return [{"class": c, "training images": counts[0][c], "validation images": counts[1][c]}
            for c in map(str, learn.dls.vocab)]


def plot(learn, out: Path) -> None:
    """confusion_matrix.png and top_losses.png (fastai's own interpretation plots)."""
    from fastai.vision.all import ClassificationInterpretation

    from ..plots import pyplot, save

    plt = pyplot()
    interp = ClassificationInterpretation.from_learner(learn)
    interp.plot_confusion_matrix(figsize=(5, 5))
    save(plt.gcf(), out / "confusion_matrix.png")
    k = min(9, len(learn.dls.valid_ds))
    interp.plot_top_losses(k, nrows=3 if k > 3 else 1, figsize=(9, 9))
    save(plt.gcf(), out / "top_losses.png")
