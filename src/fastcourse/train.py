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

from .errors import OptionError, TrainError, UserError
from .util import model_dir, model_locked, project_root, run_child

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
if sys.platform == "darwin":  # Apple MPS lacks some ops: let torch run those on the CPU instead of failing
    os.environ.setdefault("PYTORCH_ENABLE_MPS_FALLBACK", "1")


def device() -> str:
    """Where training runs: CUDA if present, else Apple's MPS, else the CPU (as fastai's default_device)."""
    import torch

    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    return "mps" if mps is not None and mps.is_available() else "cpu"


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
    task: str = "vision"  # vision | tabular | collab | segment (lesson 1's other applications)

    def __post_init__(self):
        from .applications import TASKS
        from .errors import check_name

        check_name(self.name)
        if self.task not in TASKS:
            raise OptionError(f"--task {self.task!r} is not one of {', '.join(TASKS)}")
        if self.resize not in ("squish", "crop", "pad"):
            raise OptionError(f"--resize {self.resize!r} is not one of squish, crop, pad")
        for opt, lo, hi in (("size", 32, 2048), ("epochs", 1, 10_000), ("bs", 1, 65_536)):
            if not lo <= int(getattr(self, opt)) <= hi:
                raise OptionError(f"--{opt} {getattr(self, opt)} is out of range — use a value from {lo} to {hi}")
        if self.lr is not None and not 0 < self.lr < 10:
            raise OptionError(f"--lr {self.lr} is out of range — use e.g. --lr 0.002")
        if not 0 < self.valid_pct < 1:
            raise OptionError(f"valid_pct {self.valid_pct} must lie between 0 and 1, e.g. 0.2")


def rank() -> int:
    """This process's rank in a distributed run (0 when not distributed)."""
    return int(os.environ.get("RANK", os.environ.get("LOCAL_RANK", 0)))


def log(msg: str) -> None:
    """Print from the main process only (quiet on the other ranks of a distributed run)."""
    if rank() == 0:
        print(msg, flush=True)


def make_dls(cfg: TrainConfig, files: list[Path], device=None):
    """DataLoaders over `files`: parent folder = label, seeded random split, resize, light augmentation."""
    from fastai.vision.all import (CategoryBlock, DataBlock, ImageBlock, Normalize, RandomSplitter,
                                   Resize, ResizeMethod, aug_transforms, imagenet_stats, parent_label)

    import torch

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


def resolve_arch(name: str):
    """A torchvision model builder, or the name itself for timm; OptionError for an unknown name."""
    import torchvision

    known = name in torchvision.models.list_models(module=torchvision.models)
    arch = getattr(torchvision.models, name) if known else name  # other names go to timm
    if isinstance(arch, str):
        try:
            import timm
        except ImportError:
            raise OptionError(f"--arch {name}: not a torchvision model, and timm (for other names) is not "
                              "installed — use e.g. resnet18/resnet34/convnext_tiny, or pip install timm") from None
        if not timm.list_models(name):
            raise OptionError(f"--arch {name}: no torchvision or timm model has this name — "
                              "e.g. resnet18, resnet34, convnext_tiny (see timm.list_models())")
    return arch


def make_learner(cfg: TrainConfig, dls):
    """A vision_learner; pretrained weights when available, else a from-scratch learner."""
    from fastai.vision.all import error_rate, vision_learner

    arch = resolve_arch(cfg.arch)
    if cfg.pretrained is not False:
        try:
            return vision_learner(dls, arch, pretrained=True, metrics=error_rate), True
        except Exception as e:  # no network, firewall, missing weights: fall back, do not stop
            if cfg.pretrained:
                raise TrainError(f"pretrained weights for {cfg.arch} could not be loaded ({type(e).__name__}) — "
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
    """Train, export and report into models/NAME as a unit; returns the metrics (also metrics.json).

    One writer per model folder (a lock beside it). A distributed run is locked by launch() instead.
    """
    if cfg.task != "vision":
        from . import applications

        return applications.train(cfg, root, log=log)
    resolve_arch(cfg.arch)  # before any file is touched
    if distributed:
        return _train(cfg, root, distributed)
    with model_locked(root, cfg.name):
        return _train(cfg, root, distributed)


def _train(cfg: TrainConfig, root: Path, distributed: bool) -> dict:
    from fastai.vision.all import set_seed

    import torch

    from . import datasets, export, interpret

    start = time.time()
    path = datasets.resolve_data(root, cfg.data)
    files = datasets.usable_images(path, cfg.valid_pct, log=log)
    set_seed(cfg.seed, reproducible=True)
    dls = make_dls(cfg, files)
    learn, pretrained = make_learner(cfg, dls)
    resolved = {**asdict(cfg), "pretrained": pretrained, "data": str(path),
                "lr": cfg.lr or (LR_PRETRAINED if pretrained else LR_SCRATCH),
                "device": device(),
                "processes": int(os.environ.get("WORLD_SIZE", 1))}
    log("config: " + json.dumps(resolved))
    if torch.cuda.is_available():
        learn.to_fp16()  # mixed precision on GPU
    if distributed:
        fit_distributed(learn, cfg, pretrained)
    else:
        fit(learn, cfg, pretrained)
    if rank() != 0:
        return {}
    manifest_path = path.parent / "manifest.csv"
    with export.new_folder(model_dir(root, cfg.name)) as out:  # replaces models/NAME only when all is written
        export.save_all(learn, out, resolved)
        return interpret.report(learn, out, resolved, time.time() - start, manifest_path)


def fit_distributed(learn, cfg: TrainConfig, pretrained: bool) -> None:
    """fit() under fastai's DistributedTrainer; afterwards rank 0 evaluates and exports alone."""
    import torch

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
    os.environ["WORLD_SIZE"] = "1"  # no more gathers


def launch(cfg: TrainConfig, root: Path, procs: int = 1, machines: int = 1, machine_rank: int = 0,
           main_ip: str | None = None) -> dict:
    """Run this module under `accelerate launch` (GPU: one process per GPU, fp16; CPU: gloo); the metrics."""
    if machines > 1 and not main_ip:
        raise OptionError(f"--machines {machines} needs --main-ip, the address of the machine with "
                          "--machine-rank 0 (every machine passes the same --main-ip)")
    if not 0 <= machine_rank < machines:
        raise OptionError(f"--machine-rank {machine_rank} is out of range — use 0 to {machines - 1}")
    if cfg.task != "vision":
        raise OptionError(f"--procs/--machines: distributed training is for --task vision, not {cfg.task}")
    resolve_arch(cfg.arch)
    from . import datasets

    datasets.resolve_data(root, cfg.data)  # the embedded dataset is written once, here, not by every rank
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", str(procs * machines),
           "--num_machines", str(machines), "--machine_rank", str(machine_rank), "--dynamo_backend", "no"]
    # torchrun-style launch for both; on CPU accelerate then picks the gloo backend. Mixed precision
    # comes from fastai's to_fp16 in the training script, not from accelerate (one loss scaler, not two).
    cmd += ["--multi_gpu", "--mixed_precision", "no"]
    if main_ip:
        cmd += ["--main_process_ip", main_ip, "--main_process_port", "29500"]
    args = [a for k, v in vars(cfg).items() for a in (f"--{k}", str(v))]
    env = {**os.environ, "FASTCOURSE_HOME": str(root)}
    with model_locked(root, cfg.name):
        code = run_child(cmd + ["-m", "fastcourse.train", *args], env=env)
    if code:
        raise TrainError(f"accelerate launch exited with {code} — see the messages above")
    return json.loads((model_dir(root, cfg.name) / "metrics.json").read_text())


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
    try:
        train(TrainConfig(**kw), project_root(), distributed=True)
    except UserError as e:  # expected failures: one line per rank, not a traceback
        print(f"train failed (rank {rank()}): {e}", file=sys.stderr, flush=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
