"""Train an image classifier the course's way, with a recipe that also learns offline.

Usage: `inv train [--data PATH] [--epochs N] ...` (see `inv --help train`), or, under
accelerate for several processes, `accelerate launch -m fastcourse.train --name NAME ...`.
"""

from __future__ import annotations

import json
import os
import sys
import time
import warnings
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from .util import project_root

# Defaults: each is an option of `inv train` (--arch, --size, ...).
ARCH = "resnet18"  # torchvision or timm architecture name
SIZE = 64  # side in pixels of the images fed to the model (the course uses 192-224 for photos)
RESIZE = "squish"  # squish | crop | pad: how each image is brought to SIZE
EPOCHS = 5  # passes over the training set (5 reaches 0% on the embedded digits from scratch)
LR = None  # peak learning rate; None = the recipe's default (below)
LR_PRETRAINED, LR_SCRATCH = 2e-3, 1e-2  # fine_tune from pretrained / one-cycle from scratch
BS = 32  # batch size
PRETRAINED = None  # None = use pretrained weights when they can be downloaded, else from scratch
SEED = 42  # seeds the validation split, weight init and shuffling
VALID_PCT = 0.2  # share of images held out for validation
NAME = "digits"  # models/NAME/ holds the artifacts

warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.*")  # fastai imports still use it


@dataclass
class TrainConfig:
    data: str | None = None  # None = the embedded dataset (data/digits)
    name: str = NAME
    arch: str = ARCH
    size: int = SIZE
    resize: str = RESIZE
    epochs: int = EPOCHS
    lr: float | None = LR
    bs: int = BS
    pretrained: bool | None = PRETRAINED
    seed: int = SEED
    valid_pct: float = VALID_PCT

    def __post_init__(self):
        if self.resize not in ("squish", "crop", "pad"):
            raise ValueError(f"--resize {self.resize!r} is not one of squish, crop, pad")
        for opt in ("size", "epochs", "bs"):
            if int(getattr(self, opt)) < 1:
                raise ValueError(f"--{opt} must be a positive whole number, not {getattr(self, opt)!r}")


def rank() -> int:
    """This process's rank in a distributed run (0 when not distributed)."""
    return int(os.environ.get("RANK", os.environ.get("LOCAL_RANK", 0)))


def log(msg: str) -> None:
    """Print from the main process only (quiet on the other ranks of a distributed run)."""
    if rank() == 0:
        print(msg, flush=True)


def resolve_data(root: Path, data: str | None) -> Path:
    """The folder with one sub-folder per class: the embedded default, a data/NAME dataset or a path."""
    from . import embedded

    if data is None or (data == embedded.NAME and not Path(data).exists()):
        path = embedded.ensure(root) / "images"  # the offline default, written on first use
    else:
        path = Path(data) if Path(data).exists() else root / "data" / data
        path = path / "images" if (path / "images").is_dir() else path
    if not path.is_dir():
        raise FileNotFoundError(f"--data {data}: no such folder — give a folder with one sub-folder "
                                "per class, or a dataset name made by `inv data.build`")
    classes = [d for d in path.iterdir() if d.is_dir() and any(d.iterdir())]
    if len(classes) < 2:
        raise ValueError(f"--data {path}: found {len(classes)} class folder(s) with images — "
                         "need at least two sub-folders, one per class")
    return path


def make_dls(cfg: TrainConfig, path: Path, device=None):
    """DataLoaders: parent folder = label, seeded random split, resize, light augmentation."""
    from fastai.vision.all import (CategoryBlock, DataBlock, ImageBlock, Normalize, RandomSplitter,
                                   Resize, ResizeMethod, aug_transforms, get_image_files,
                                   imagenet_stats, parent_label)

    import torch

    method = {"squish": ResizeMethod.Squish, "crop": ResizeMethod.Crop, "pad": ResizeMethod.Pad}[cfg.resize]
    block = DataBlock(
        blocks=(ImageBlock, CategoryBlock), get_items=get_image_files, get_y=parent_label,
        splitter=RandomSplitter(valid_pct=cfg.valid_pct, seed=cfg.seed),
        item_tfms=Resize(cfg.size, method=method),
        batch_tfms=[*aug_transforms(do_flip=False, max_rotate=10.0), Normalize.from_stats(*imagenet_stats)])
    workers = min(8, os.cpu_count() or 1) if torch.cuda.is_available() else 0
    return block.dataloaders(path, bs=cfg.bs, num_workers=workers, device=device)


def make_learner(cfg: TrainConfig, dls):
    """A vision_learner; pretrained weights when available, else a from-scratch learner."""
    import torchvision
    from fastai.vision.all import error_rate, vision_learner

    arch = getattr(torchvision.models, cfg.arch, None) or cfg.arch  # strings go to timm
    if isinstance(arch, str):
        try:
            import timm
        except ImportError:
            raise ValueError(f"--arch {cfg.arch}: not a torchvision model, and timm (for other names) is not "
                             "installed — use e.g. resnet18/resnet34/convnext_tiny, or pip install timm") from None
        if not timm.list_models(cfg.arch):
            raise ValueError(f"--arch {cfg.arch}: no torchvision or timm model has this name — "
                             "see torchvision.models or timm.list_models()")
    if cfg.pretrained is not False:
        try:
            return vision_learner(dls, arch, pretrained=True, metrics=error_rate), True
        except Exception as e:  # no network, firewall, missing weights: fall back, do not stop
            if cfg.pretrained:
                raise RuntimeError(f"pretrained weights for {cfg.arch} could not be loaded ({e}) — "
                                   "check the network or run with --no-pretrained") from e
            log(f"WARNING: pretrained {cfg.arch} weights unavailable ({type(e).__name__}) — "
                "training from scratch with an unfrozen one-cycle recipe")
    return vision_learner(dls, arch, pretrained=False, metrics=error_rate), False


def fit(learn, cfg: TrainConfig, pretrained: bool) -> None:
    """fine_tune when pretrained (the course's recipe); unfrozen fit_one_cycle from scratch."""
    if pretrained:
        learn.fine_tune(cfg.epochs, base_lr=cfg.lr or LR_PRETRAINED)
    else:
        learn.fit_one_cycle(cfg.epochs, lr_max=cfg.lr or LR_SCRATCH)


def distributed_trainer(**kwargs):
    """fastai's DistributedTrainer (accelerate), made to work on CPU processes (gloo) too."""
    import torch
    from fastai.distributed import DistributedDL, DistributedTrainer

    class DL(DistributedDL):
        def _broadcast(self, t, rank):  # fastai moves to CUDA for nccl; gloo takes CPU tensors
            t = torch.LongTensor(t)
            t = t.cuda() if torch.distributed.get_backend() == "nccl" else t
            torch.distributed.broadcast(t, rank)
            return t.cpu().tolist()

    class Trainer(DistributedTrainer):
        def _wrap_dl(self, dl):
            device = next(self.learn.model.parameters()).device  # a CPU model has no .device
            return dl if isinstance(dl, DistributedDL) else DL(dl, device=device)

    return Trainer(**kwargs)


def train(cfg: TrainConfig, root: Path, distributed: bool = False) -> dict:
    """Train, export and report; returns the summary (also saved as models/NAME/metrics.json)."""
    from fastai.vision.all import set_seed

    import torch

    start = time.time()
    path = resolve_data(root, cfg.data)
    set_seed(cfg.seed, reproducible=True)
    dls = make_dls(cfg, path)
    learn, pretrained = make_learner(cfg, dls)
    resolved = {**asdict(cfg), "pretrained": pretrained, "data": str(path),
                "lr": cfg.lr or (LR_PRETRAINED if pretrained else LR_SCRATCH),
                "device": "cuda" if torch.cuda.is_available() else "cpu",
                "processes": int(os.environ.get("WORLD_SIZE", 1))}
    log("config: " + json.dumps(resolved))
    if torch.cuda.is_available():
        learn.to_fp16()  # mixed precision on GPU
    if distributed:
        gpu = torch.cuda.is_available()
        trainer = distributed_trainer(sync_bn=gpu, cpu=not gpu)
        learn.add_cb(trainer)
        log(f"distributed: {trainer.accelerator.num_processes} processes, "
            f"{trainer.accelerator.distributed_type}, backend {trainer.accelerator.state.backend}")
        try:
            fit(learn, cfg, pretrained)
        finally:
            learn.remove_cb(trainer)
        trainer.accelerator.wait_for_everyone()
        os.environ["WORLD_SIZE"] = "1"  # rank 0 evaluates and exports alone (no more gathers)
    else:
        fit(learn, cfg, pretrained)
    if rank() != 0:
        return {}
    from . import export, interpret

    out = root / "models" / cfg.name
    export.save_all(learn, out, resolved)
    summary = interpret.report(learn, out, resolved, time.time() - start, path.parent / "manifest.csv")
    return summary


def main(argv: list[str] | None = None) -> None:
    """Entry point for `accelerate launch -m fastcourse.train --key value ...`."""
    args, kw = list(argv if argv is not None else sys.argv[1:]), {}
    types = {f.name: f.type for f in fields(TrainConfig)}
    while args:
        key, val = args.pop(0).lstrip("-").replace("-", "_"), args.pop(0)
        kw[key] = None if val == "None" else {"True": True, "False": False}.get(val, val)
    for k in ("size", "epochs", "bs", "seed"):
        if k in kw:
            kw[k] = int(kw[k])
    for k in ("lr", "valid_pct"):
        if kw.get(k) is not None:
            kw[k] = float(kw[k])
    assert set(kw) <= set(types), f"unknown options {set(kw) - set(types)}"
    train(TrainConfig(**kw), project_root(), distributed=True)


if __name__ == "__main__":
    main()
