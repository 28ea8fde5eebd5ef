"""The files the kit writes beside a model, read through one schema: model.json (what portable inference
needs) and config.json (how it was trained). A file with a wrong type, a missing key, an unknown value or
truncated JSON is one ModelError naming the file and the key — never a traceback, never accepted silently.
Standard library only: a Space bundle carries this file.
"""

from __future__ import annotations

import json
from pathlib import Path

from .errors import ModelError

RETRAIN = "retrain with inv train (or export the model again)"
KINDS = ("classifier", "segmenter", "tabular", "collab")  # what a portable model does
TASKS = ("vision", "tabular", "collab", "segment")  # what inv train trains (config.json's task)
RESIZES = ("squish", "crop", "pad")
PAD_MODES = ("reflection", "zeros", "border")


def _names(v, lo=1):
    return isinstance(v, list) and len(v) >= lo and all(isinstance(x, (str, int)) and str(x) != "" for x in v)


def _ints(v, n, lo=1, hi=4096):
    return isinstance(v, list) and len(v) == n and all(type(x) is int and lo <= x <= hi for x in v)


def _floats(v, n, positive=False):
    ok = isinstance(v, list) and len(v) == n and all(type(x) in (int, float) and x == x for x in v)
    return ok and (not positive or all(x > 0 for x in v))


def _text(v):
    return isinstance(v, str)


IMAGE = {  # what every image model's spec holds: (check, what it must be)
    "size": (lambda v: _ints(v, 2), "a list of two whole numbers [height, width] from 1 to 4096"),
    "mean": (lambda v: _floats(v, 3), "a list of three numbers (per RGB channel)"),
    "std": (lambda v: _floats(v, 3, positive=True), "a list of three positive numbers (per RGB channel)"),
}
SPECS = {
    "classifier": {"classes": (lambda v: _names(v, 2), "a list of at least two class names"), **IMAGE,
                   "resize": (lambda v: v in RESIZES, f"one of {', '.join(RESIZES)}"),
                   "pad_mode": (lambda v: str(v).lower() in PAD_MODES, f"one of {', '.join(PAD_MODES)}")},
}
SPECS["segmenter"] = {"classes": (lambda v: _names(v, 2), "a list of at least two class names (codes)"), **IMAGE}
SPECS["tabular"] = {
    "classes": (lambda v: _names(v, 2), "a list of at least two class names"),
    "cat_names": (lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v), "a list of column names"),
    "cont_names": (lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v), "a list of column names"),
    "categories": (lambda v: isinstance(v, dict) and all(_names(x) for x in v.values()),
                   "an object of column -> list of its categories"),
    "fill": (lambda v: isinstance(v, dict) and all(type(x) in (int, float) for x in v.values()),
             "an object of column -> number"),
    "means": (lambda v: isinstance(v, dict) and all(type(x) in (int, float) for x in v.values()),
              "an object of column -> number"),
    "stds": (lambda v: isinstance(v, dict) and all(type(x) in (int, float) and x > 0 for x in v.values()),
             "an object of column -> positive number"),
    "columns": (lambda v: isinstance(v, dict) and all(isinstance(x, dict) and x.get("kind") in ("category", "number")
                                                      for x in v.values()), "an object of column -> its kind"),
}
SPECS["collab"] = {"users": (lambda v: _names(v, 2), "a list of user ids"),
                   "items": (lambda v: _names(v, 2), "a list of item ids"),
                   "y_range": (lambda v: _floats(v, 2), "a list [lowest, highest] rating")}
CONFIG = {  # config.json: optional keys, typed when present
    "task": (lambda v: v in TASKS, f"one of {', '.join(TASKS)}"),
    "name": (_text, "a model name"),
    "data": (_text, "the path of the data it was trained on"),
    "epochs": (lambda v: type(v) is int and v >= 1, "a whole number of epochs"),
    "seed": (lambda v: type(v) is int, "a whole number"),
    "pretrained": (lambda v: isinstance(v, bool), "true or false"),
}


def read_json(path: Path) -> dict:
    """A JSON object from `path`; ModelError when it is missing, unreadable, truncated or not an object."""
    path = Path(path)
    try:
        data = json.loads(path.read_bytes().decode("utf-8-sig"))
    except FileNotFoundError:
        raise ModelError(f"{path} not found — train a model first (inv train) or pass --model models/NAME") from None
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise ModelError(f"{path} is not readable JSON ({type(e).__name__}: it may be truncated) — {RETRAIN}") from None
    if not isinstance(data, dict):
        raise ModelError(f"{path} holds {type(data).__name__}, not an object of keys — {RETRAIN}")
    return data


def check(data: dict, fields: dict, path: Path, required: bool = True) -> dict:
    """`data` when every field passes its check (required fields present); ModelError on the first that fails."""
    for key, (ok, want) in fields.items():
        if key not in data:
            if required:
                raise ModelError(f"{path}: {key} is missing (it must be {want}) — it was not written by fastcourse; "
                                 f"{RETRAIN}")
            continue
        if not ok(data[key]):
            raise ModelError(f"{path}: {key} must be {want}, not {json.dumps(data[key])[:40]} — {RETRAIN}")
    return data


def model_spec(folder: Path) -> dict:
    """model.json of a portable model folder, checked for its kind (older files are classifiers)."""
    path = Path(folder) / "model.json"
    spec = read_json(path)
    kind = spec.get("kind", "classifier")
    if kind not in SPECS:
        raise ModelError(f"{path}: kind must be one of {', '.join(SPECS)}, not {json.dumps(kind)[:40]} — {RETRAIN}")
    spec = check(spec, SPECS[kind], path)
    if "classes" in spec:
        spec["classes"] = [str(c) for c in spec["classes"]]
    return {**spec, "kind": kind}


def config(folder: Path) -> dict:
    """config.json beside a model (empty when there is none: a model exported elsewhere), checked when present."""
    path = Path(folder) / "config.json"
    if not path.exists():
        return {}
    return check(read_json(path), CONFIG, path, required=False)


def task_of(folder: Path) -> str:
    """The task a model folder was trained for: config.json's, else what model.json's kind implies, else vision."""
    task = config(folder).get("task")
    if task:
        return task
    kind = read_json(Path(folder) / "model.json").get("kind") if (Path(folder) / "model.json").exists() else None
    return {"segmenter": "segment", "tabular": "tabular", "collab": "collab"}.get(kind, "vision")


HEADLINES = [("error_rate", "error rate", "{:.2%}"), ("pixel_accuracy", "pixel accuracy", "{:.2%}"),
             ("accuracy", "accuracy", "{:.2%}"), ("valid_mse", "validation MSE", "{:.4f}")]


def weak_note(metrics: dict) -> str | None:
    """For a classifier no better than always answering its commonest class: that, in words, and what to try."""
    support = {c: m.get("support", 0) for c, m in metrics.get("per_class", {}).items()}
    total, error = sum(support.values()), metrics.get("error_rate")
    if not total or not isinstance(error, (int, float)):
        return None
    top = max(support, key=support.get)
    if error < 1 - support[top] / total - 1e-9:
        return None
    return (f"no better than always answering {top!r} ({support[top] / total:.0%} of the held-out items): train "
            f"longer (--epochs {max(2 * metrics.get('epochs', 1), 5)}) or check that the classes differ")


def describe(folder: Path) -> str:
    """One line naming the model a task uses: its folder, task, when it was trained, and how good it is (and a
    warning line when it is no better than guessing);
    ModelError (train one first) when the folder holds no model, so nothing is announced that isn't there."""
    import time

    folder = Path(folder)
    read_json(folder / "model.json")
    stamp = next((p for p in (folder / "metrics.json", folder / "model.json") if p.exists()), None)
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(stamp.stat().st_mtime)) if stamp else "when unknown"
    try:
        metrics = read_json(folder / "metrics.json") if (folder / "metrics.json").exists() else {}
    except ModelError:
        metrics = {}
    score = next((f"{label} {fmt.format(metrics[key])}" for key, label, fmt in HEADLINES
                  if isinstance(metrics.get(key), (int, float))), "no metrics")
    weak = weak_note(metrics)
    return f"model {folder} ({task_of(folder)}, trained {when}, {score})" + (f"\nwarning: {weak}" if weak else "")
