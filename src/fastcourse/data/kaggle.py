"""Kaggle competition data for the course (lessons 5-10): credentials, download, unzip into data/kaggle/NAME/.

    from fastcourse.data.kaggle import kaggle_data   # (also fastcourse.competitions, as patched notebooks say)
    path = kaggle_data("titanic")          # what the patched course notebooks call; inv data.kaggle --comp NAME

Credentials are looked for (fastcourse.credentials) in every form the kaggle 2.x client accepts; none is
ever printed. The client
prints a banner and exits when it finds none, so it is only imported once credentials are known to exist,
and its output is kept off the learner's screen: failures become one line (a KaggleError).
"""

from __future__ import annotations

import contextlib
import io
import re
import zipfile
from pathlib import Path

from ..credentials import KAGGLE_AUTH_FIX as AUTH_FIX, kaggle_sources
from ..errors import DataError, KaggleError
from ..fileio import folder_lock
from ..paths import project_root, remove_tree

COMP_RE = re.compile(r"[a-z0-9][a-z0-9-]{0,99}")
def check_comp(name: str) -> str:
    """A competition slug as Kaggle spells it (titanic, paddy-disease-classification)."""
    if not COMP_RE.fullmatch(name or ""):
        raise DataError(f"--comp {name!r} is not a competition name — use the slug from its URL, e.g. titanic")
    return name


def _client():
    """An authenticated kaggle KaggleApi, its banner and exit turned into one KaggleError."""
    if not kaggle_sources():
        raise KaggleError(f"no Kaggle credentials found — {AUTH_FIX}")
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            api = _api_class()()
            api.authenticate()
    except SystemExit:
        raise KaggleError(f"Kaggle did not accept the credentials it found — {AUTH_FIX}") from None
    return api


def _api_class():
    """kaggle's KaggleApi, building its client for the environment KAGGLE_API_ENVIRONMENT names (kagglesdk's
    own switch: TEST is http://localhost:7777); KaggleApi alone always talks to the production API."""
    from kaggle.api.kaggle_api_extended import KaggleApi
    from kagglesdk import KaggleClient
    from kagglesdk.kaggle_env import get_env

    class Api(KaggleApi):
        def build_kaggle_client(self):
            return KaggleClient(env=get_env(), username=self.config_values.get(self.CONFIG_NAME_USER),
                                password=self.config_values.get(self.CONFIG_NAME_KEY),
                                api_token=self.config_values.get(self.CONFIG_NAME_TOKEN),
                                response_processor=self.get_response_processor())

    return Api


def _http_status(e: Exception) -> int | None:
    response = getattr(e, "response", None)
    return getattr(response, "status_code", None)


def download(comp: str, root: Path | None = None) -> Path:
    """data/kaggle/COMP/ with the competition's files, downloaded and unzipped once (resumable, atomic)."""
    import requests

    comp = check_comp(comp)
    owner = (root or project_root()) / "data" / "kaggle"
    dest, part = owner / comp, owner / f".{comp}.part"
    if dest.is_dir():
        return dest
    with folder_lock(owner / f".{comp}.lock", f"Kaggle data {dest}"):
        api = _client()
        part.mkdir(parents=True, exist_ok=True)  # kept between runs: the client resumes a partial zip
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                api.competition_download_files(comp, path=str(part), quiet=True)
        except requests.exceptions.HTTPError as e:
            raise _refusal(comp, _http_status(e)) from None
        except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as e:
            raise KaggleError(f"could not reach Kaggle ({type(e).__name__}) — check the network; "
                              f"data/kaggle/{comp} is resumed on the next run") from None
        _unzip(part / f"{comp}.zip", part / "files")
        (part / "files").rename(dest)
        remove_tree(part, owner)
    return dest


def _refusal(comp: str, code: int | None) -> KaggleError:
    """The one line for an HTTP refusal of a competition download."""
    if code == 401:
        return KaggleError(f"Kaggle rejected the credentials (401) — {AUTH_FIX}")
    if code == 403:
        return KaggleError(f"Kaggle refused {comp} (403): accept the competition's rules at "
                           f"https://www.kaggle.com/competitions/{comp}/rules, then run again")
    if code == 404:
        return KaggleError(f"no Kaggle competition named {comp} (404) — check the name in its URL")
    return KaggleError(f"Kaggle answered HTTP {code} for {comp} — try again later")


def _unzip(archive: Path, into: Path) -> None:
    """Extract `archive` into `into` (fresh), refusing members that would land outside it."""
    remove_tree(into, archive.parent)
    try:
        with zipfile.ZipFile(archive) as z:
            for member in z.namelist():
                if not (into / member).resolve().is_relative_to(into.resolve()):
                    raise DataError(f"{archive}: member {member!r} points outside the folder — not extracted")
            z.extractall(into)
    except zipfile.BadZipFile:
        archive.unlink(missing_ok=True)
        raise KaggleError(f"{archive.name} is not a complete zip — run again to download it afresh") from None


def kaggle_data(comp: str) -> Path:
    """The competition's data folder for a notebook: downloaded through the kit on first use."""
    return download(comp)
