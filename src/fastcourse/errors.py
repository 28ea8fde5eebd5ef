"""One error type for expected failures, and the checks every task shares.

A `UserError` says "what failed — what to do" in one line; tasks turn it into invoke's Exit in one
place (tasks/_opts.task). Anything else is a bug and keeps its traceback. This file needs only the
standard library: a Space bundle carries it beside predict.py.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path


class UserError(Exception):
    """An expected failure; the message is one line: what failed — what to do."""

    def _render_traceback_(self):  # IPython/Jupyter show this instead of a traceback
        return [f"{type(self).__name__}: {self}"]


class OptionError(UserError):
    """A command-line value out of range or malformed."""


class DataError(UserError):
    """A dataset, image or URL file that cannot be used."""


class TrainError(UserError):
    """Training that cannot start or finish."""


class ModelError(UserError):
    """A model folder that is missing or broken."""


class DeployError(UserError):
    """A bundle or deploy that cannot go on."""


class NotebookError(UserError):
    """A notebook that cannot be run, patched or fetched."""


class EnvError(UserError):
    """The environment (folders, engines, packages) is not as needed."""


class BusyError(UserError):
    """Another fastcourse process is writing the same folder."""


NAME_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}")
LABEL_RE = re.compile(r"[^/\\\x00-\x1f]{1,100}")  # categories may hold spaces ("grizzly bear")


def check_name(name, what: str = "--name") -> str:
    """A plain folder name (letters, digits, _ . -; no separators, no '..', not empty), or OptionError."""
    name = "" if name is None else str(name)
    if not NAME_RE.fullmatch(name) or ".." in name:
        raise OptionError(f"{what} {name!r} is not a plain name — use letters, digits, _ . - "
                          "(no '/', no '..', not empty), e.g. birds")
    return name


def check_label(label, what: str = "category") -> str:
    """A class label usable as a folder name (spaces allowed), or DataError."""
    label = str(label).strip()
    if not LABEL_RE.fullmatch(label) or label.startswith(".") or ".." in label:
        raise DataError(f"{what} {label!r} cannot be a folder name — no '/', '\\', '..' or leading '.'")
    return label


def inside(path: Path, owner: Path) -> Path:
    """`path`, proven to lie strictly inside `owner` (links resolved); UserError otherwise."""
    p, o = Path(path).resolve(), Path(owner).resolve()
    if p == o or not p.is_relative_to(o):
        raise UserError(f"refusing to touch {p}: it is not inside {o} — check the name you passed")
    return Path(path)


def remove_tree(path: Path, owner: Path) -> None:
    """rmtree `path` only after proving it lies inside `owner`."""
    if Path(path).exists():
        shutil.rmtree(inside(path, owner))
