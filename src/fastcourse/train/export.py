"""Export a trained Learner: fastai's model.pkl and a portable ONNX model with its preprocessing."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import warnings
from pathlib import Path

from ..errors import TrainError
from ..fileio import atomic_write_text, atomic_write_with, sweep
from ..paths import remove_tree

PORTABLE = "model.onnx"  # weights + graph; runs with onnxruntime, no pickle, no fastai
SPEC = "model.json"  # classes and the exact preprocessing


@contextlib.contextmanager
def new_folder(dest: Path):
    """Yield a sibling temp folder; on success it replaces `dest` as a unit (the old one goes to
    models/.previous/NAME), on any failure it is removed and `dest` is left as it was."""
    owner = dest.parent
    check_dest(dest)
    tmp = owner / f".{dest.name}.new-{os.getpid()}"
    sweep(owner)  # what a killed run left (.NAME.new-PID of a dead PID)
    try:
        remove_tree(tmp, owner)
        tmp.mkdir(parents=True)
        yield tmp
        if dest.exists():
            previous = owner / ".previous" / dest.name
            remove_tree(previous, owner)
            previous.parent.mkdir(exist_ok=True)
            dest.rename(previous)
        tmp.rename(dest)
    except OSError as e:
        raise TrainError(f"could not write {dest} ({e.strerror or type(e).__name__}) — free disk space or fix "
                         "the folder's permissions; the previous model, if any, is unchanged") from e
    finally:
        if tmp.exists():
            remove_tree(tmp, owner)


def check_dest(dest: Path) -> None:
    """TrainError when models/NAME is a link: the folder is replaced as a unit, which must not happen through
    a link (the link would be replaced by a folder, or the training thrown away)."""
    if dest.is_symlink():
        raise TrainError(f"{dest} is a link to {os.readlink(dest)} — a model folder is replaced as a unit, not "
                         f"written through a link: remove the link (rm {dest}) or train with another --name")


def save_all(learn, out: Path, config: dict) -> None:
    """Write model.pkl and config.json into `out`, and for image classifiers model.onnx + model.json."""
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_with(out / "model.pkl", lambda tmp: _torch_write(learn.export, tmp))
    if config["task"] == "vision":
        spec = preprocessing_spec(learn, config)
        atomic_write_with(out / PORTABLE, lambda tmp: to_onnx(learn.model, spec["size"], tmp))
        atomic_write_text(out / SPEC, json.dumps(spec, indent=2))
    atomic_write_text(out / "config.json", json.dumps(config, indent=2))


def _torch_write(save, path: Path) -> None:
    """save(path), with torch's zip writer failing to write (a full disk) reported as the OSError it is."""
    try:
        save(path)
    except RuntimeError as e:
        if "inline_container" not in str(e) and "PytorchStreamWriter" not in str(e):
            raise
        raise OSError(errno.ENOSPC, "the file could not be written (disk full?)") from e


def preprocessing_spec(learn, config: dict) -> dict:
    """What portable inference must do to an image to match learn.predict."""
    from fastai.vision.all import Normalize, Resize

    resize = next(t for t in learn.dls.after_item if isinstance(t, Resize))
    norm = next(t for t in learn.dls.after_batch if isinstance(t, Normalize))
    return {
        "format": "fastcourse-portable/1",
        "classes": [str(c) for c in learn.dls.vocab],
        "size": [int(resize.size[1]), int(resize.size[0])],  # height, width
        "resize": config["resize"],
        "pad_mode": str(resize.pad_mode),
        "mean": [float(v) for v in norm.mean.flatten()],
        "std": [float(v) for v in norm.std.flatten()],
        "input": "RGB, HWC uint8 -> CHW float / 255, normalized",
        "output": "class probabilities (softmax)",
        "arch": config["arch"],
    }


def plain_pooling(model):
    """Swap fastai's AdaptiveConcatPool2d(1) for the same max+mean in ops every ONNX exporter knows."""
    import torch
    from fastai.layers import AdaptiveConcatPool2d

    class GlobalConcatPool(torch.nn.Module):
        def forward(self, x):
            return torch.cat([x.amax((2, 3), keepdim=True), x.mean((2, 3), keepdim=True)], 1)

    for name, child in model.named_children():
        if isinstance(child, AdaptiveConcatPool2d) and child.size in (1, (1, 1), None):
            setattr(model, name, GlobalConcatPool())
        else:
            plain_pooling(child)
    return model


def to_onnx(model, size: list[int], path: Path) -> None:
    """Export model + softmax to ONNX with a dynamic batch dimension."""
    import copy

    import torch

    body = plain_pooling(copy.deepcopy(model).float().cpu())
    net = torch.nn.Sequential(body, torch.nn.Softmax(dim=1)).eval()
    x = torch.zeros(2, 3, *size)
    batch = torch.export.Dim("batch", min=1, max=4096)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        prog = torch.onnx.export(net, (x,), input_names=["image"], output_names=["probs"],
                                 dynamic_shapes=({0: batch},), dynamo=True, verbose=False)
    prog.save(str(path))
