"""Where the learner's Hugging Face and Kaggle credentials are — found, checked, never printed.

The doctor, deploy and data.kaggle all ask here. Files are read as UTF-8 (a BOM tolerated); a token with a
stray character (a Windows `\\r`, a space) is refused in one line instead of failing later as "no network".
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Mapping

from .errors import DeployError
from .fileio import read_text

TOKEN_RE = re.compile(r"[\x21-\x7e]+")  # printable ASCII, no spaces: what an HTTP header can carry
KAGGLE_AUTH_FIX = ("run `kaggle auth login`, or set KAGGLE_API_TOKEN (a token from "
                   "https://www.kaggle.com/settings/api), then run again")


def hf_token_file(environ: Mapping[str, str] = os.environ) -> Path:
    """The login cache of `hf auth login` as huggingface_hub finds it: HF_TOKEN_PATH, else HF_HOME/token."""
    home = environ.get("HF_HOME") or os.path.join(environ.get("XDG_CACHE_HOME") or
                                                 os.path.join(os.path.expanduser("~"), ".cache"), "huggingface")
    return Path(environ.get("HF_TOKEN_PATH") or os.path.join(home, "token"))


def find_token(environ: Mapping[str, str] = os.environ) -> tuple[str | None, str]:
    """(token, where it came from): HF_TOKEN, else the login cache, read from `environ`. Never printed.

    Surrounding white space is dropped (an editor's newline); a token file in another encoding is a DataError.
    """
    if environ.get("HF_TOKEN", "").strip():
        return environ["HF_TOKEN"].strip(), "HF_TOKEN"
    path = hf_token_file(environ)
    try:
        token = read_text(path, f"the Hugging Face token file {path}").strip()
    except OSError:
        token = ""
    return (token, "login cache") if token else (None, "")


def check_token(token: str, source: str) -> str:
    """The token when it can travel in an HTTP header; DeployError naming the source otherwise."""
    if not TOKEN_RE.fullmatch(token):
        bad = next(c for c in token if not TOKEN_RE.fullmatch(c))
        raise DeployError(f"the Hugging Face token from {source} holds {bad!r}, which no token has — set it again "
                          "(copy it from https://huggingface.co/settings/tokens) without spaces or line breaks")
    return token


def require_token(environ: Mapping[str, str] = os.environ) -> str:
    """The token for a deploy, checked before any request; DeployError when there is none or it is malformed."""
    token, source = find_token(environ)
    if not token:
        raise DeployError("no Hugging Face token found — set HF_TOKEN or run `hf auth login`")
    return check_token(token, source)


def kaggle_sources(environ: Mapping[str, str] = os.environ, home: Path | None = None) -> list[tuple[str, Path | None]]:
    """Every Kaggle credential the kaggle 2.x client would find, in its order: [(what, file or None)]."""
    home = Path(home or environ.get("HOME") or Path.home())
    kdir = home / ".kaggle"
    found = []
    token = environ.get("KAGGLE_API_TOKEN")
    if token:
        found.append(("KAGGLE_API_TOKEN", Path(token) if Path(token).is_file() else None))
    for name in ("access_token", "access_token.txt"):
        if (kdir / name).is_file() and _nonempty(kdir / name):
            found.append((f"~/.kaggle/{name}", kdir / name))
    if environ.get("KAGGLE_USERNAME") and environ.get("KAGGLE_KEY"):
        found.append(("KAGGLE_USERNAME/KAGGLE_KEY", None))
    config_dirs = [Path(environ["KAGGLE_CONFIG_DIR"])] if environ.get("KAGGLE_CONFIG_DIR") else [
        kdir, Path(environ.get("XDG_CONFIG_HOME") or home / ".config") / "kaggle"]
    for d in config_dirs:
        if (d / "kaggle.json").is_file():
            found.append((f"{d / 'kaggle.json'}", d / "kaggle.json"))
            break
    if (kdir / "credentials.json").is_file():
        found.append(("OAuth login (kaggle auth login)", kdir / "credentials.json"))
    return found


def _nonempty(path: Path) -> bool:
    """A credentials file with something in it; DataError when it is not UTF-8 text."""
    return bool(read_text(path, f"the Kaggle credentials file {path}").strip())


def check_kaggle_files(found: list[tuple[str, Path | None]]) -> None:
    """DataError (naming the encoding) when a credentials file the client would read is not UTF-8 text."""
    for _, path in found:
        if path is not None:
            read_text(path, f"the Kaggle credentials file {path}")


def readable_by_others(path: Path) -> bool:
    """True when a credentials file's mode lets group or others read it."""
    return bool(path.stat().st_mode & 0o077)


