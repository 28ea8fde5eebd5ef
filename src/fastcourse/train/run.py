"""The one pipeline that trains any task into models/NAME as a unit: data, learner, fit, export, report.

    from fastcourse.train import TrainConfig, train
    metrics = train(TrainConfig(task="tabular"), root)
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from ..fileio import folder_lock
from ..paths import model_dir
from .config import TrainConfig, task_module
from . import progress, recipe
from .recipe import device, log, rank


def model_locked(root: Path, name: str):
    """The write lock of models/NAME: a file beside the folder (the folder itself is replaced as a unit)."""
    dest = model_dir(root, name)
    return folder_lock(dest.with_name(f".{name}.lock"), f"model {dest}")


def train(cfg: TrainConfig, root: Path, distributed: bool = False) -> dict:
    """Train, export and report into models/NAME as a unit; returns the metrics (also metrics.json).

    One writer per model folder (a lock beside it). A distributed run is locked by its launcher instead.
    """
    from .export import check_dest

    mod = task_module(cfg.task)
    check_dest(model_dir(root, cfg.name))  # before any file is touched
    if hasattr(mod, "check"):
        mod.check(cfg)
    from ..data.folders import resolve

    start = time.time()
    data = resolve(Path(root), cfg.data, cfg.task)  # found (or downloaded) before models/ is touched
    if distributed:
        return _train(cfg, Path(root), mod, data, start, distributed)
    with model_locked(root, cfg.name):
        return _train(cfg, Path(root), mod, data, start, distributed)


def _train(cfg: TrainConfig, root: Path, mod, data: Path, start: float, distributed: bool) -> dict:
    import os

    import torch
    from fastai.torch_core import set_seed

    from . import export, report

    set_seed(cfg.seed, reproducible=True)
    learn, pretrained, why = mod.learner(cfg, data)
    resolved = cfg.resolved(data=str(data), pretrained=pretrained, lr=recipe.lr(mod, cfg, pretrained),
                            device=device(), processes=int(os.environ.get("WORLD_SIZE", 1)), recipe=why)
    log("config: " + json.dumps(resolved))
    epochs = progress.attach(learn)
    if torch.cuda.is_available() and getattr(mod, "FP16", False):
        learn.to_fp16()  # mixed precision on GPU
    if distributed:
        from .distributed import fit_distributed

        fit_distributed(learn, lambda: recipe.fit(mod, learn, cfg, pretrained))
    else:
        recipe.fit(mod, learn, cfg, pretrained)
    if rank() != 0:
        return {}
    learn.remove_cb(epochs)  # what it recorded stays with it; the exported model does not carry it
    with export.new_folder(model_dir(root, cfg.name)) as out:  # replaces models/NAME only when all is written
        export.save_all(learn, out, resolved)
        return report.write(learn, out, resolved, mod, time.time() - start, data, epochs)
