"""Every error class of fastcourse, grouped by area, and the one line an expected failure becomes.

A `UserError` says "what failed — what to do" in one line; `one_line()` is the single boundary that turns
expected failures (UserError, the file system's answers, Ctrl-C) into that line (tasks/_opts.task uses it).
Anything else is a bug and keeps its traceback. Standard library only: a Space bundle carries this file.
"""

from __future__ import annotations

import errno


class UserError(Exception):
    """An expected failure; the message is one line: what failed — what to do. Keyword data is kept on it."""

    def __init__(self, message: str = "", **data):
        super().__init__(message)
        self.data = data
        for key, value in data.items():
            setattr(self, key, value)

    def _render_traceback_(self):  # IPython/Jupyter show this instead of a traceback
        return [f"{type(self).__name__}: {self}"]


# --- options and concurrency -------------------------------------------------------------------------------
class OptionError(UserError):
    """A command-line value out of range or malformed."""


class BusyError(UserError):
    """Another fastcourse process is writing the same folder."""


# --- environment and containers (inv env.*, setup.*, docker.*) -----------------------------------------------
class EnvError(UserError):
    """The environment (folders, engines, packages, GPU) is not as needed."""


# --- data (inv data.*) ---------------------------------------------------------------------------------------
class DataError(UserError):
    """A dataset, image, CSV or URL file that cannot be used."""


class SearchError(DataError):
    """An image search that failed for good (offline, or still rate-limited after backing off)."""


class KaggleError(DataError):
    """Kaggle data that cannot be had: no credentials, rules not accepted, offline, a stalled download."""


# --- training and models (inv train, predict) ----------------------------------------------------------------
class TrainError(UserError):
    """Training that cannot start or finish."""


class ModelError(UserError):
    """A model folder or model file that is missing, broken or of a kind the command cannot use."""


# --- serving and deploying (inv app, deploy) -----------------------------------------------------------------
class DeployError(UserError):
    """A bundle or deploy that cannot go on."""


# --- notebooks (inv nb.*) ------------------------------------------------------------------------------------
class NotebookError(UserError):
    """A notebook that cannot be run, patched or fetched."""


# --- the boundary --------------------------------------------------------------------------------------------
OS_FIXES = {  # errno -> what to do, for the file system's answers that are the learner's to fix
    errno.ENOSPC: "free disk space, then run again",
    errno.EDQUOT: "your disk quota is full: free space, then run again",
    errno.EROFS: "the folder is on a read-only file system: work in a writable folder (FASTCOURSE_HOME)",
    errno.EACCES: "fix the folder's permissions (ls -l shows the owner), or work in a folder of yours",
    errno.EPERM: "fix the folder's permissions (ls -l shows the owner), or work in a folder of yours",
    errno.ENOENT: "check the path, or run the step that makes it first",
}
INTERRUPTED = "interrupted — rerun to resume; nothing was lost"
REPORT_BUGS = "this is a bug in fastcourse, not something you did: please report it with the traceback above"


def one_line(e: BaseException) -> str | None:
    """The one line for an expected failure (a UserError may add one line per problem under it), or None for
    a bug, which must keep its traceback."""
    if isinstance(e, UserError):
        return "\n".join(str(e).strip().splitlines()[:25]) or type(e).__name__
    if isinstance(e, KeyboardInterrupt):
        return INTERRUPTED
    if isinstance(e, OSError) and e.errno in OS_FIXES:
        where = e.filename or e.filename2
        what = f"{e.strerror or errno.errorcode.get(e.errno, 'OS error')}" + (f": {where}" if where else "")
        return f"{what} — {OS_FIXES[e.errno]}"
    return None
