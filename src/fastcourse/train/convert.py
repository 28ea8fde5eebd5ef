"""A fastai export — `learn.export('model.pkl')` in a notebook, on Kaggle or Paperspace — as the portable
folder `inv train` writes, so `inv app`, `inv deploy` and `inv predict` take it (`--model path/model.pkl`).

The pickle is loaded in a child process with a deadline (`python -m fastcourse.train.convert PKL OUT`): a pickle
runs the code it holds, and a broken one must not hang or crash the task. A function the pickle needs from
`__main__` (a notebook's `is_cat`) comes from `--code FILE`. The converted folder is kept under
models/.converted/ by the pickle's content; the learner's file is never changed.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

from ..errors import ModelError

TIMEOUT = float(os.environ.get("FASTCOURSE_CONVERT_TIMEOUT", 600))  # seconds to load and convert a pickle
WARNING = "loading {pkl}: a pickle runs the code it holds — load only models you made or trust"


def convert(pkl: Path, root: Path, code: Path | None = None, timeout: float = TIMEOUT, log=print) -> Path:
    """The portable folder of `pkl` (converted once; reused while the pickle and --code are the same)."""
    from ..fileio import last_line
    from ..paths import remove_tree

    pkl = Path(pkl)
    if not pkl.is_file():
        raise ModelError(f"{pkl}: no such file — give the model.pkl that learn.export wrote")
    if code is not None and not Path(code).is_file():
        raise ModelError(f"--code {code}: no such file — give the .py file that defines what the model needs")
    digest = hashlib.sha256(pkl.read_bytes() + (Path(code).read_bytes() if code else b"")).hexdigest()[:12]
    owner = Path(root) / "models" / ".converted"
    out = owner / f"{pkl.stem}-{digest}"
    if (out / "model.json").is_file():
        return out
    log(WARNING.format(pkl=pkl) + f" (converted once into {out})")
    tmp = owner / f".{out.name}.new-{os.getpid()}"
    remove_tree(tmp, owner) if tmp.exists() else None
    cmd = [sys.executable, "-m", "fastcourse.train.convert", str(pkl), str(tmp), *(["--code", str(code)] if code else [])]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                           env={**os.environ, "CUDA_VISIBLE_DEVICES": ""})
    except subprocess.TimeoutExpired:
        remove_tree(tmp, owner) if tmp.exists() else None
        raise ModelError(f"loading {pkl} took over {timeout:.0f} s and was stopped — is it a fastai export? "
                         "(learn.export('model.pkl'))") from None
    if r.returncode:
        remove_tree(tmp, owner) if tmp.exists() else None
        raise ModelError(last_line(r.stderr, f"could not convert {pkl} (exit {r.returncode})", width=600))
    tmp.rename(out)
    return out


def _code_into_main(code: str) -> None:
    """Run the learner's --code file and put its names in __main__, where a notebook's functions were."""
    import __main__
    import runpy

    for name, value in runpy.run_path(code, run_name="__fastcourse_code__").items():
        if not name.startswith("__"):
            setattr(__main__, name, value)


def load(pkl: str):
    """The Learner in `pkl`, on the CPU; ModelError with the one line that says what to do."""
    import pickle
    import warnings
    import zipfile

    import torch
    from fastai.learner import Learner

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            learn = torch.load(pkl, map_location="cpu", weights_only=False)
    except AttributeError as e:
        m = re.search(r"Can't get attribute '([^']+)' on <module '([^']+)'", str(e))
        if m and m[2] in ("__main__", __name__, "fastcourse.train.convert"):  # this child runs as __main__
            raise ModelError(f"{pkl} needs the function {m[1]}, which the notebook that exported it defined — put it "
                             f"in a file (e.g. labels.py: def {m[1]}(...): ..., as in the notebook) and pass "
                             "--code labels.py") from None
        raise ModelError(f"{pkl} was made with another fastai or torch version ({e}) — export it again with this "
                         "environment's versions, or retrain it here (inv train)") from None
    except ImportError as e:
        missing = e.name or "a module of an older fastai (fastai 2.8 removed fastcore.transform and .dispatch)"
        raise ModelError(f"{pkl} was made with another fastai or torch version: it needs {missing}, which this "
                         "environment has not — export it again with this environment's versions, or retrain it "
                         "here (inv train)") from None
    except (RuntimeError, EOFError, OSError, pickle.UnpicklingError, zipfile.BadZipFile, ValueError) as e:
        raise ModelError(f"{pkl} is not a complete fastai export ({type(e).__name__}: {str(e)[:80]}) — copy it again "
                         "(it may be truncated), or export it again with learn.export('model.pkl')") from None
    if not isinstance(learn, Learner):
        raise ModelError(f"{pkl} holds a {type(learn).__name__}, not a fastai Learner — export one with "
                         "learn.export('model.pkl')")
    learn.dls.cpu()
    return learn.to_fp32() if hasattr(learn, "mixed_precision") else learn


def task_of(learn) -> str:
    """Which kind of model a Learner is: vision, segment, tabular or collab."""
    name = type(learn.model).__name__
    if hasattr(learn.dls, "cat_names"):
        return "tabular"
    if name in ("EmbeddingDotBias", "EmbeddingNN") or "user" in getattr(learn.dls, "classes", {}):
        return "collab"
    if name == "DynamicUnet":
        return "segment"
    return "vision"


def child(pkl: str, out: str, code: str | None) -> None:
    """What the child process does: load, detect the kind, export the portable folder with its config."""
    from importlib import metadata

    from ..fileio import atomic_write_text
    from . import portable

    if code:
        _code_into_main(code)
    learn = load(pkl)
    task = task_of(learn)
    Path(out).mkdir(parents=True, exist_ok=True)
    portable.export(learn, Path(out), task)
    config = {"task": task, "name": Path(pkl).stem, "converted_from": str(Path(pkl).resolve()), "data": "",
              "versions": {p: metadata.version(p) for p in ("fastai", "torch", "torchvision")}}
    atomic_write_text(Path(out) / "config.json", json.dumps(config, indent=2))


if __name__ == "__main__":  # python -m fastcourse.train.convert PKL OUT [--code FILE]
    args = sys.argv[1:]
    try:
        child(args[0], args[1], args[args.index("--code") + 1] if "--code" in args else None)
    except ModelError as e:
        print(e, file=sys.stderr)
        sys.exit(2)
