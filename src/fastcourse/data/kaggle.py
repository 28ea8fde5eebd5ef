"""Kaggle competition data for the course (lessons 5-10): credentials, download, unzip into data/kaggle/NAME/.

    from fastcourse.data.kaggle import kaggle_data   # (also fastcourse.competitions, as patched notebooks say)
    path = kaggle_data("titanic")          # what the patched course notebooks call; inv data.kaggle --comp NAME

Credentials are looked for (fastcourse.credentials) in every form the kaggle 2.x client accepts; none is
ever printed. The client prints a banner and exits when it finds none, and its requests can wait without end,
so its work runs in a child process (`python -m fastcourse.data.kaggle COMP FOLDER`) that this one watches:
an overall deadline, and a stall timeout when the partial zip stops growing. Failures are one line each.
"""

from __future__ import annotations

import contextlib
import io
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ..credentials import KAGGLE_AUTH_FIX as AUTH_FIX, check_kaggle_files, kaggle_sources
from ..errors import DataError, KaggleError
from ..fileio import folder_lock, last_line
from ..paths import project_root, remove_tree
from .archive import unzip

COMP_RE = re.compile(r"[a-z0-9][a-z0-9-]{0,99}")
DEADLINE = 4 * 3600  # seconds for a whole download (paddy-disease-classification is 1 GB)
STALL = 120  # seconds without a new byte (or without an answer) before the download is stopped, to resume later


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


def download(comp: str, root: Path | None = None, deadline: float = DEADLINE, stall: float = STALL) -> Path:
    """data/kaggle/COMP/ with the competition's files, downloaded and unzipped once (resumable, atomic)."""
    comp = check_comp(comp)
    owner = (root or project_root()) / "data" / "kaggle"
    dest, part = owner / comp, owner / f".{comp}.part"
    if dest.is_dir():
        return dest
    with folder_lock(owner / f".{comp}.lock", f"Kaggle data {dest}"):
        found = kaggle_sources()
        if not found:
            raise KaggleError(f"no Kaggle credentials found — {AUTH_FIX}")
        check_kaggle_files(found)
        part.mkdir(parents=True, exist_ok=True)  # kept between runs: the client resumes a partial zip
        fetch_zip(comp, part, deadline, stall)
        archive = part / f"{comp}.zip"
        try:
            unzip(archive, part / "files", owner)
        except DataError as e:
            if "not a complete zip" in str(e):
                archive.unlink(missing_ok=True)
                raise KaggleError(f"{archive.name} is not a complete zip — run again to download it afresh") from None
            raise
        (part / "files").rename(dest)
        remove_tree(part, owner)
    return dest


def fetch_zip(comp: str, part: Path, deadline: float, stall: float, poll: float = 0.25) -> None:
    """Run the client's download in a child process, watching it: KaggleError when it fails, stalls for `stall`
    seconds (no new byte in `part`) or runs past `deadline`; Ctrl-C stops it too. The partial zip stays."""
    cmd = [sys.executable, "-m", "fastcourse.data.kaggle", comp, str(part)]
    log = tempfile.TemporaryFile("w+")  # a file, not a pipe: a chatty client cannot block on a full pipe
    child = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log, text=True)
    start = last_change = time.monotonic()
    size = -1
    try:
        while child.poll() is None:
            time.sleep(poll)
            now, grown = time.monotonic(), _size(part)
            if grown != size:
                size, last_change = grown, now
            if now - last_change > stall:
                raise KaggleError(f"Kaggle sent nothing for {stall:.0f} s — check the network, then run again: "
                                  f"the download resumes where it stopped ({size // 1024**2} MB so far)")
            if now - start > deadline:
                raise KaggleError(f"the download of {comp} ran past {deadline:.0f} s — run again to resume it "
                                  f"({size // 1024**2} MB so far)")
    finally:
        if child.poll() is None:
            child.kill()
        child.wait()
        log.seek(0)
        err = log.read()
    if child.returncode:
        raise KaggleError(last_line(err, f"the Kaggle client exited with {child.returncode}", width=400))


def _size(folder: Path) -> int:
    """Bytes in `folder` now (the partial zip and the client's resume marker)."""
    try:
        return sum(p.stat().st_size for p in folder.iterdir() if p.is_file())
    except OSError:
        return 0


def client_download(comp: str, part: Path) -> None:
    """What the child process does: the kaggle client downloads COMP's zip into `part` (KaggleError on refusal)."""
    import requests

    api = _client()
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            api.competition_download_files(comp, path=str(part), quiet=True)
    except requests.exceptions.HTTPError as e:
        raise _refusal(comp, _http_status(e)) from None
    except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as e:
        raise KaggleError(f"could not reach Kaggle ({type(e).__name__}) — check the network; "
                          f"data/kaggle/{comp} is resumed on the next run") from None


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


def kaggle_user() -> str:
    """The learner's Kaggle user name (for publishing a notebook as them): KAGGLE_USERNAME, else kaggle.json's."""
    import json
    import os

    from ..fileio import read_text

    if os.environ.get("KAGGLE_USERNAME"):
        return os.environ["KAGGLE_USERNAME"]
    for what, path in kaggle_sources():
        if path is not None and path.name == "kaggle.json":
            try:
                user = json.loads(read_text(path)).get("username")
            except ValueError:
                user = None
            if user:
                return str(user)
    raise KaggleError("your Kaggle user name is not known — set KAGGLE_USERNAME (as on https://www.kaggle.com/ "
                      "settings), then run the cell again")


def kaggle_data(comp: str) -> Path:
    """The competition's data folder for a notebook: downloaded through the kit on first use."""
    return download(comp)


if __name__ == "__main__":  # the child process of fetch_zip: python -m fastcourse.data.kaggle COMP FOLDER
    try:
        client_download(sys.argv[1], Path(sys.argv[2]))
    except KaggleError as e:
        print(e, file=sys.stderr)
        sys.exit(2)
