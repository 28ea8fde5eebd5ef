"""Bundle a model as a Hugging Face Space (gradio) and create/update the Space with huggingface_hub."""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from importlib import metadata
from pathlib import Path

from .errors import DeployError, remove_tree

PKG = Path(__file__).resolve().parent
APP_REQUIREMENTS = ["gradio", "onnxruntime", "numpy", "pillow"]  # what app.py needs: no torch, no fastai
EXAMPLES_PER_CLASS = 2
SPACE_RE = re.compile(r"^[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]{0,95}$")


def example_images(config: dict, per_class: int = EXAMPLES_PER_CLASS) -> list[Path]:
    """A few images per class from the dataset the model was trained on."""
    data = Path(config.get("data", ""))
    if not data.is_dir():
        return []
    out = []
    for cls in sorted(d for d in data.iterdir() if d.is_dir()):
        out += sorted(f for f in cls.iterdir() if f.suffix.lower() in (".jpg", ".jpeg", ".png"))[:per_class]
    return out


def bundle(model_dir: Path, dest: Path, title: str) -> Path:
    """Write the Space into `dest`: app.py, the portable model, examples, requirements, README."""
    from .predict import PortableModel

    PortableModel(model_dir)  # fails here, clearly, on a missing or broken model
    config = model_config(model_dir)
    owner = dest.parent  # build/space/: the only folder a bundle may replace things in
    tmp = owner / f".{dest.name}.tmp"
    remove_tree(tmp, owner)
    (tmp / "model").mkdir(parents=True)
    (tmp / "fastcourse").mkdir()
    (tmp / "examples").mkdir()
    shutil.copy(PKG / "app.py", tmp / "app.py")
    for module in ("predict.py", "errors.py"):
        shutil.copy(PKG / module, tmp / "fastcourse" / module)
    (tmp / "fastcourse" / "__init__.py").write_text('"""The part of fastcourse a Space needs."""\n')
    for name in ("model.onnx", "model.json"):
        shutil.copy(model_dir / name, tmp / "model" / name)
    for img in example_images(config):
        shutil.copy(img, tmp / "examples" / f"{img.parent.name}-{img.name}")
    (tmp / "requirements.txt").write_text("".join(f"{p}=={metadata.version(p)}\n" for p in APP_REQUIREMENTS))
    (tmp / "README.md").write_text(readme(title, model_dir))
    remove_tree(dest, owner)  # replace the previous bundle only once the new one is complete
    tmp.rename(dest)
    return dest


def readme(title: str, model_dir: Path) -> str:
    """The Space card: front matter that Spaces reads, then a short description."""
    classes = json.loads((model_dir / "model.json").read_text())["classes"]
    return (f"---\ntitle: {title}\nemoji: 🐦\ncolorFrom: blue\ncolorTo: green\nsdk: gradio\n"
            f"sdk_version: {metadata.version('gradio')}\npython_version: \"{space_python()}\"\napp_file: app.py\n"
            "license: apache-2.0\npinned: false\n---\n\n"
            f"# {title}\n\nAn image classifier ({', '.join(classes)}) trained with fastcourse "
            "(fast.ai's Practical Deep Learning for Coders). It runs the exported ONNX model with onnxruntime.\n")


def space_python() -> str:
    """The Python the bundle's requirements are pinned for: this one (the lock resolved them for it)."""
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def find_token(environ=os.environ) -> tuple[str | None, str]:
    """(token, where it came from): HF_TOKEN, else the login cache of `hf auth login` as huggingface_hub
    finds it (HF_TOKEN_PATH, else HF_HOME/token), read from `environ`. Never printed."""
    if environ.get("HF_TOKEN"):
        return environ["HF_TOKEN"], "HF_TOKEN"
    home = environ.get("HF_HOME") or os.path.join(environ.get("XDG_CACHE_HOME") or
                                                 os.path.join(os.path.expanduser("~"), ".cache"), "huggingface")
    path = Path(environ.get("HF_TOKEN_PATH") or os.path.join(home, "token"))
    try:
        token = path.read_text().strip()
    except OSError:
        token = ""
    return (token, "login cache") if token else (None, "")


def require_token(environ=os.environ) -> str:
    """The token for a deploy, checked before any request; DeployError when there is none."""
    token = find_token(environ)[0]
    if not token:
        raise DeployError("no Hugging Face token found — set HF_TOKEN or run `hf auth login`")
    return token


def model_config(model_dir: Path) -> dict:
    """The training config saved beside a model (empty for a model exported elsewhere)."""
    path = model_dir / "config.json"
    return json.loads(path.read_text()) if path.exists() else {}


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


def check(folder: Path, port: int = 0) -> dict:
    """The bundle resolves for the Space's Python on Linux x86_64 and answers from a clean virtualenv."""
    from . import spacecheck

    problem = spacecheck.resolves(folder)
    if problem:
        raise DeployError(f"{folder}/requirements.txt does not resolve for Python {spacecheck.pinned_python(folder)} "
                          f"on Linux x86_64 ({problem}) — the Space would not build")
    return spacecheck.self_contained(folder, port)


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
    if not SPACE_RE.match(space or ""):
        raise DeployError(f"--space {space!r} must look like USER/NAME (e.g. jane/bird-or-forest)")


def listing(folder: Path) -> list[dict]:
    """Files of a bundle with their sizes, for --dry-run."""
    from .util import human_bytes

    return [{"file": p.relative_to(folder).as_posix(), "size": human_bytes(p.stat().st_size)}
            for p in sorted(folder.rglob("*")) if p.is_file()]

