"""How training runs wherever the learner is: the device, the process rank, logging from rank 0, and the
one pretrained-or-scratch decision every task makes (and records why)."""

from __future__ import annotations

import os
import sys

from ..errors import TrainError

if sys.platform == "darwin":  # Apple MPS lacks some ops: let torch run those on the CPU instead of failing
    os.environ.setdefault("PYTORCH_ENABLE_MPS_FALLBACK", "1")


def device() -> str:
    """Where training runs: CUDA if present, else Apple's MPS, else the CPU (as fastai's default_device)."""
    import torch

    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    return "mps" if mps is not None and mps.is_available() else "cpu"


def rank() -> int:
    """This process's rank in a distributed run (0 when not distributed)."""
    return int(os.environ.get("RANK", os.environ.get("LOCAL_RANK", 0)))


def log(msg: str) -> None:
    """Print from the main process only (quiet on the other ranks of a distributed run)."""
    if rank() == 0:
        print(msg, flush=True)


def pretrained_or_scratch(make, want: bool | None, arch: str):
    """make(pretrained) -> learner, with pretrained weights when they can be had: (learner, pretrained, why).

    want=None tries the weights and falls back to scratch with one warning line; True requires them (TrainError
    when they cannot be loaded); False never tries.
    """
    if want is False:
        return make(False), False, "trained from scratch: --no-pretrained was given"
    try:
        return make(True), True, f"fine-tuned from {arch}'s pretrained ImageNet weights (the course's recipe)"
    except Exception as e:  # no network, firewall, missing weights: fall back, do not stop
        if want:
            raise TrainError(f"pretrained weights for {arch} could not be loaded ({type(e).__name__}) — "
                             "check the network or run with --no-pretrained") from e
        log(f"WARNING: pretrained {arch} weights unavailable ({type(e).__name__}) — "
            "training from scratch with an unfrozen one-cycle recipe")
        why = (f"trained from scratch: {arch}'s pretrained weights could not be downloaded ({type(e).__name__}; "
               "offline or firewalled), so an unfrozen one-cycle schedule learns every layer")
        return make(False), False, why


def lr(mod, cfg, pretrained: bool) -> float:
    """The peak learning rate: --lr, else the task's own rule (`mod.lr`), else its LR."""
    return mod.lr(cfg, pretrained) if hasattr(mod, "lr") else cfg.lr or mod.LR


def fit(mod, learn, cfg, pretrained: bool) -> None:
    """The task's own schedule (`mod.fit`), else fit_one_cycle as the book trains tabular, collab and U-Nets."""
    if hasattr(mod, "fit"):
        mod.fit(learn, cfg, pretrained)
    else:
        learn.fit_one_cycle(cfg.epochs, lr_max=lr(mod, cfg, pretrained))
