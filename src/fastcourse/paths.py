"""Every project path, name checks and containment: data/NAME, models/NAME, build/space/NAME, the checkout.

Names are plain (`birds`, never `../x`); `inside()` resolves links and proves a path stays in its owner
folder, so moves, deletes and replaces never reach outside it.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from .errors import DataError, EnvError, OptionError, UserError

NAME_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}")
LABEL_RE = re.compile(r"[^/\\\x00-\x1f]{1,100}")  # categories may hold spaces ("grizzly bear")


def _find_checkout() -> Path | None:
    """The source checkout fastcourse runs from (editable install), or None for a plain install."""
    env = os.environ.get("FASTCOURSE_CHECKOUT")
    if env:
        return Path(env).resolve()
    here = Path(__file__).resolve().parents[2]  # src layout: <checkout>/src/fastcourse/paths.py
    return here if (here / "pyproject.toml").is_file() and (here / "tasks").is_dir() else None


CHECKOUT = _find_checkout()  # None when fastcourse is installed from a wheel


def checkout() -> Path:
    """The checkout (notebooks/, docker/, bench/), else the project folder."""
    return CHECKOUT or project_root()


def project_root() -> Path:
    """The folder holding data/, models/ and build/ (FASTCOURSE_HOME or the current directory)."""
    home = os.environ.get("FASTCOURSE_HOME")
    root = Path(home or os.getcwd()).resolve()
    if home and not root.is_dir():
        raise EnvError(f"FASTCOURSE_HOME={home} is not a folder — create it (mkdir -p {home}) or unset it")
    return root


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


def dataset_dir(root: Path, name: str) -> Path:
    """data/NAME under the project root, NAME checked."""
    return Path(root) / "data" / check_name(name)


def model_dir(root: Path, name: str) -> Path:
    """models/NAME under the project root, NAME checked."""
    return Path(root) / "models" / check_name(name)


def space_dir(root: Path, name: str) -> Path:
    """build/space/NAME under the project root, NAME checked."""
    return Path(root) / "build" / "space" / check_name(name, "bundle name")


def lock_file() -> Path:
    """requirements.lock of the project folder, else of the checkout fastcourse runs from."""
    here = project_root() / "requirements.lock"
    return here if here.exists() or CHECKOUT is None else CHECKOUT / "requirements.lock"


def inside(path: Path, owner: Path) -> Path:
    """`path`, proven to lie strictly inside `owner` (links resolved); UserError otherwise, naming the link
    that leads out when the path itself is spelled inside."""
    p, o = Path(path).resolve(), Path(owner).resolve()
    if p == o or not p.is_relative_to(o):
        link = next((a for a in [Path(path), *Path(path).parents] if a.is_symlink()), None)
        if link is not None and Path(os.path.abspath(path)).is_relative_to(os.path.abspath(owner)):
            raise UserError(f"{link} is a link to {os.readlink(link)}, outside {owner} — the kit changes files only "
                            "inside it: replace the link with a real folder (or move the files in)")
        raise UserError(f"refusing to touch {p}: it is not inside {o} — check the name you passed")
    return Path(path)


def own_folders(owner: Path, *folders: Path) -> None:
    """UserError unless each existing folder (or link) among `folders` resolves inside `owner`."""
    for folder in folders:
        if Path(folder).exists() or Path(folder).is_symlink():
            inside(folder, owner)


def remove_tree(path: Path, owner: Path) -> None:
    """rmtree `path` only after proving it lies inside `owner`."""
    if Path(path).exists():
        shutil.rmtree(inside(path, owner))
