"""Create or update the learner's Space on Hugging Face (huggingface_hub) and follow it until it runs.

Every answer of the Hub becomes one line: a rejected token, a name of another account, no network.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from ..errors import DeployError

SPACE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]{0,95}")  # ASCII, as the Hub spells ids


def deploy(folder: Path, space: str, token: str, private: bool = False, wait: float | None = 300) -> str:
    """Create the Space if needed, upload the bundle and (unless wait is None) wait until it runs; its URL."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")
    api = HfApi(token=token)
    try:
        api.create_repo(space, repo_type="space", space_sdk="gradio", private=private, exist_ok=True)
        api.upload_folder(folder_path=str(folder), repo_id=space, repo_type="space",
                          commit_message="Deploy with fastcourse (inv deploy)")
        if wait is not None:
            from .spacecheck import wait_for_space

            return wait_for_space(api, space, endpoint, wait)
    except HfHubHTTPError as e:
        code = e.response.status_code if e.response is not None else None
        if code == 401:
            raise DeployError("Hugging Face rejected the token (401) — make a write token at "
                              "https://huggingface.co/settings/tokens and set HF_TOKEN or run `hf auth login`")
        if code in (403, 409):
            raise DeployError(f"you cannot write to {space} ({code}): the name belongs to another account or "
                              "your token is read-only — use your own USER/NAME or a write token")
        raise DeployError(f"the Hub answered {code}: {scrub(str(e), token).splitlines()[0]} — try again later")
    except (OSError, *_transport_errors(), OfflineModeIsEnabled) as e:  # refused, DNS, timeouts, HF_HUB_OFFLINE
        raise DeployError(f"could not reach the Hugging Face Hub at {endpoint} ({type(e).__name__}) — "
                          "check the network (and HF_ENDPOINT / HF_HUB_OFFLINE), then run again")
    return f"{endpoint}/spaces/{space}"


def _transport_errors() -> tuple:
    """Connection-level errors of the HTTP client huggingface_hub uses (httpx2 in 1.x/2.x, httpx before)."""
    import importlib

    found = []
    for name in ("httpx2", "httpx"):
        try:
            found.append(importlib.import_module(name).TransportError)
        except (ImportError, AttributeError):
            pass
    return tuple(found)


def scrub(text: str, token: str | None) -> str:
    """Remove the token from any text that could be shown."""
    return text.replace(token, "***") if token else text


def check_space_name(space: str) -> None:
    """USER/NAME, as the Hub spells repository ids."""
    if not SPACE_RE.fullmatch(space or ""):
        raise DeployError(f"--space {space!r} must look like USER/NAME (e.g. jane/bird-or-forest)")
