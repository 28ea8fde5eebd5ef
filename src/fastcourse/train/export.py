"""A trained model into models/NAME as a unit: fastai's model.pkl, the portable model (portable.py), config.json."""

from __future__ import annotations

import contextlib
import errno
import json
import os
from pathlib import Path

from ..errors import TrainError
from ..fileio import atomic_write_text, atomic_write_with, staging, sweep
from ..paths import remove_tree
from .recipe import log



@contextlib.contextmanager
def new_folder(dest: Path):
    """Yield a sibling temp folder; on success it replaces `dest` as a unit (the old one goes to
    models/.previous/NAME), on any failure it is removed and `dest` is left as it was."""
    owner, previous = dest.parent, None
    check_dest(dest)
    sweep(owner)  # what a killed run left (.NAME.new-PID of a dead PID)
    try:
        with staging(dest) as tmp:
            tmp.mkdir(parents=True)
            yield tmp
            if dest.exists():
                previous = owner / ".previous" / dest.name
                remove_tree(previous, owner)
                previous.parent.mkdir(exist_ok=True)
                dest.rename(previous)
            try:
                tmp.rename(dest)
            except BaseException:
                if previous is not None:
                    previous.rename(dest)  # the old model back where it was
                raise
    except OSError as e:
        raise TrainError(f"could not write {dest} ({e.strerror or type(e).__name__}) — free disk space or fix "
                         "the folder's permissions; the previous model, if any, is unchanged") from e
    if previous is not None:  # said once both renames are done: a closed stdout here loses nothing
        log(f"replaced {dest}; the previous model is kept in {previous} (move it back to restore it)")


def check_dest(dest: Path) -> None:
    """TrainError when models/NAME is a link: the folder is replaced as a unit, which must not happen through
    a link (the link would be replaced by a folder, or the training thrown away)."""
    if dest.is_symlink():
        raise TrainError(f"{dest} is a link to {os.readlink(dest)} — a model folder is replaced as a unit, not "
                         f"written through a link: remove the link (rm {dest}) or train with another --name")


def save_all(learn, out: Path, config: dict) -> None:
    """Write model.pkl (fastai's export), the portable model.onnx + model.json, and config.json into `out`."""
    from . import portable

    out.mkdir(parents=True, exist_ok=True)
    atomic_write_with(out / "model.pkl", lambda tmp: _torch_write(learn.export, tmp))
    portable.export(learn, out, config["task"])
    atomic_write_text(out / "config.json", json.dumps(config, indent=2))


def _torch_write(save, path: Path) -> None:
    """save(path), with torch's zip writer failing to write (a full disk) reported as the OSError it is."""
    try:
        save(path)
    except RuntimeError as e:
        if "inline_container" not in str(e) and "PytorchStreamWriter" not in str(e):
            raise
        raise OSError(errno.ENOSPC, "the file could not be written (disk full?)") from e
