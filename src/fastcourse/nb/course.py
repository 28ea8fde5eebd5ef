"""The official course22 notebooks: fetched with git (the remote's default branch, `master` for course22,
unless a ref is asked for), kept up to date without losing the learner's edits."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from ..errors import NotebookError
from ..fileio import last_line

COURSE_REPO = os.environ.get("FASTCOURSE_COURSE_REPO", "https://github.com/fastai/course22.git")  # or a mirror
BY_HAND = ("download https://github.com/fastai/course22/archive/refs/heads/master.zip, unpack it, then run "
           "inv nb.patch on the folder")
GIT_S = 300  # seconds a clone or fetch may take


def _git(args: list[str], timeout: float = 60) -> subprocess.CompletedProcess:
    """git with a deadline, output captured, failures raised (CalledProcessError, TimeoutExpired)."""
    return subprocess.run(["git", "-c", "advice.detachedHead=false", *args], check=True, capture_output=True,
                          text=True, timeout=timeout)


def clone_course(dest: Path, ref: str | None = None, repo: str = COURSE_REPO) -> str:
    """Clone or update the course notebooks into `dest` (the default branch, or `ref`); returns what was done.

    An update keeps the learner's edits (and earlier patches) in a git stash, never drops them.
    """
    which = ref or "the default branch"
    try:
        if (dest / ".git").exists():
            here = ["-C", str(dest)]
            _git(here + ["fetch", "--depth", "1", "origin", *([ref] if ref else [])], GIT_S)
            dirty = _git(here + ["status", "--porcelain"]).stdout.strip()
            if dirty:
                _git(here + ["-c", "user.name=fastcourse", "-c", "user.email=fastcourse@localhost", "stash", "push",
                             "--include-untracked", "-m", "fastcourse: before nb.course update"])
            _git(here + ["checkout", "FETCH_HEAD"])
            kept = f"; your earlier changes are saved: git -C {dest} stash list" if dirty else ""
            return f"updated {dest} to {which}{kept}"
        _git(["clone", "--depth", "1", *(["--branch", ref] if ref else []), repo, str(dest)], GIT_S)
        branch = _git(["-C", str(dest), "rev-parse", "--abbrev-ref", "HEAD"]).stdout.strip()
        return f"cloned {repo} ({ref or branch}) into {dest}"
    except FileNotFoundError:
        raise NotebookError(f"git is not installed — install it (sudo apt-get install git), or {BY_HAND}") from None
    except subprocess.TimeoutExpired:
        raise NotebookError(f"git could not get {repo} within {GIT_S} s — check the network, or {BY_HAND}") from None
    except subprocess.CalledProcessError as e:
        raise NotebookError(f"git could not get {repo} ({which}): {last_line(e.stderr)} — check the network, "
                            f"or {BY_HAND}") from None


# Lesson 3 (03-which-image-models-are-best) reads three CSVs from a clone of pytorch-image-models. The benchmark
# CSVs were deleted in 2024-09 (commit ef570e26), and later results-imagenet.csv names models with tags, so
# newer files merge on one row. This commit is the state the lesson was made from: course22's 03 was published
# on 2022-05-24, the day of this commit; its files merge on 580 (inference) and 586 (training) models.
TIMM_COMMIT = "e4360e6125bb0bb4279785810c8eb33b40af3ebd"
TIMM_RESULTS = {
    "results-imagenet.csv": "8515c0b07f1135c721beb4a0e64f9813f8a00f172246b4a2da42ed600e1c5fa2",
    "benchmark-infer-amp-nhwc-pt111-cu113-rtx3090.csv": "6b5b489bf7d35a0b37e10aea0d8b4cca03b9f6efc5b33ff3153914e41f8d89a8",
    "benchmark-train-amp-nhwc-pt111-cu113-rtx3090.csv": "5f2736e337d56bd61ad5d45baa8fdb895ae63056bcb8e3a0713c5b264d16e78c",
}


def timm_results() -> Path:
    """The folder holding lesson 3's CSVs at TIMM_COMMIT, downloaded once (checked by sha256) into the cache;
    FASTCOURSE_TIMM_RESULTS_URL points the download elsewhere (a mirror, or the course check's stand-in)."""
    from ..fileio import fetch_file

    base = os.environ.get("FASTCOURSE_TIMM_RESULTS_URL") or \
        f"https://raw.githubusercontent.com/huggingface/pytorch-image-models/{TIMM_COMMIT}/results"
    stand_in = bool(os.environ.get("FASTCOURSE_TIMM_RESULTS_URL"))
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "fastcourse" / "timm-results"
    folder = cache / ("stand-in" if stand_in else TIMM_COMMIT)
    for name, sha in TIMM_RESULTS.items():
        if not (folder / name).is_file():
            fetch_file(f"{base.rstrip('/')}/{name}", folder / name, None if stand_in else sha)
    return folder
