"""Lesson 1's other applications as `inv train --task tabular|collab|segment`: what the three share.

Each task module (tabular, collab, segment) provides DEFAULTS, embedded(root) for offline data, online(name)
for the course's own dataset, learner(cfg, data), evaluate(learn) -> metrics, plot(learn, png) and
predict(learn, inputs, out). This module trains any of them into models/NAME as a unit, like vision.
"""

from __future__ import annotations

import html
import importlib
import json
import os
import time
from dataclasses import asdict
from pathlib import Path

from .errors import DataError, OptionError
from .util import atomic_write_text, model_dir, model_locked

TASKS = ("vision", "tabular", "collab", "segment")
ONLINE = {"adult": ("tabular", "ADULT_SAMPLE"), "movielens": ("collab", "ML_SAMPLE"),
          "camvid": ("segment", "CAMVID_TINY")}  # --data NAME -> the course's dataset (fastai URLs)


def module(task: str):
    """The module implementing `task`."""
    if task not in TASKS[1:]:
        raise OptionError(f"--task {task!r} is not one of {', '.join(TASKS)}")
    return importlib.import_module(f".{task}", __package__)


def course_url(key: str) -> str:
    """fastai's URL for a sample dataset, or the same file under FASTCOURSE_DATA_MIRROR (a local mirror)."""
    from fastai.data.external import URLs

    url = getattr(URLs, key)
    mirror = os.environ.get("FASTCOURSE_DATA_MIRROR")
    return f"{mirror.rstrip('/')}/{url.rsplit('/', 1)[-1]}" if mirror else url


def fetch_course_data(name: str, task: str) -> Path:
    """The course's dataset NAME through fastai's untar_data; one line when it cannot be downloaded."""
    import urllib.error

    from fastai.data.external import untar_data

    want, key = ONLINE[name]
    if want != task:
        raise OptionError(f"--data {name} is a {want} dataset — use it with --task {want}")
    try:
        return untar_data(course_url(key))
    except (urllib.error.URLError, OSError, EOFError) as e:
        raise DataError(f"--data {name}: could not download {course_url(key)} ({type(e).__name__}) — check the "
                        f"network, or train offline on the embedded dataset (inv train --task {task})") from None


def resolve(cfg, root: Path, mod) -> Path:
    """The data for `cfg`: the embedded default, the course's dataset by name, or a path."""
    if cfg.data is None:
        return mod.embedded(root)
    if cfg.data in ONLINE:
        return fetch_course_data(cfg.data, cfg.task)
    path = Path(cfg.data) if Path(cfg.data).exists() else root / "data" / cfg.data
    if not path.exists():
        raise DataError(f"--data {cfg.data}: no such file or folder — omit --data for the embedded dataset, "
                        f"or name one of {', '.join(n for n, (t, _) in ONLINE.items() if t == cfg.task)}")
    return path


def train(cfg, root: Path, log=print) -> dict:
    """Train `cfg.task` and write models/NAME (model.pkl, config.json, metrics.json, plot.png, report.html)."""
    from fastai.torch_core import set_seed

    from . import export

    mod = module(cfg.task)
    dest = model_dir(root, cfg.name)
    with model_locked(root, cfg.name):
        start = time.time()
        data = resolve(cfg, root, mod)
        set_seed(cfg.seed, reproducible=True)
        learn = mod.learner(cfg, data)
        resolved = {**asdict(cfg), "data": str(data), "epochs": cfg.epochs, "lr": cfg.lr or mod.LR,
                    "device": str(learn.dls.device), "pretrained": getattr(learn, "fc_pretrained", False)}
        log("config: " + json.dumps(resolved))
        learn.fit_one_cycle(cfg.epochs, lr_max=cfg.lr or mod.LR)
        with export.new_folder(dest) as out:
            learn.export(out / "model.pkl")
            metrics = {**mod.evaluate(learn), "task": cfg.task, "epochs": cfg.epochs,
                       "wall_s": round(time.time() - start, 1), "seed": cfg.seed}
            mod.plot(learn, out / "plot.png")
            atomic_write_text(out / "config.json", json.dumps(resolved, indent=2))
            atomic_write_text(out / "metrics.json", json.dumps(metrics, indent=2))
            atomic_write_text(out / "report.html", render(cfg.name, metrics, resolved, mod.PLOT_TITLE))
    return metrics


def render(name: str, metrics: dict, config: dict, plot_title: str) -> str:
    """A one-page report: the headline metrics, the plot and the configuration."""
    rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(str(v))}</td></tr>"
                   for k, v in metrics.items() if not isinstance(v, dict))
    return f"""<!doctype html><meta charset="utf-8"><title>{html.escape(name)} — fastcourse report</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto}}td{{padding:.2em .8em}}</style>
<h1>Model {html.escape(name)} ({html.escape(config['task'])})</h1><table>{rows}</table>
<h2>{html.escape(plot_title)}</h2><img src="plot.png" alt="{html.escape(plot_title)}" style="max-width:100%">
<h2>Configuration</h2><pre>{html.escape(json.dumps(config, indent=2))}</pre>
"""


def predict(folder: Path, inputs: list[str], out: Path | None = None) -> list[str]:
    """Predict with a tabular, collab or segment model folder; returns the lines to print."""
    from fastai.learner import load_learner

    from .errors import ModelError

    config_path = folder / "config.json"
    if not (folder / "model.pkl").is_file() or not config_path.is_file():
        raise ModelError(f"{folder} has no model.pkl and config.json — train one first: inv train --task ...")
    task = json.loads(config_path.read_text()).get("task", "vision")
    return module(task).predict(load_learner(folder / "model.pkl"), [Path(p) for p in inputs], out)


def save_plot(fig, png: Path) -> None:
    """Save a matplotlib figure as PNG and close it."""
    import matplotlib.pyplot as plt

    fig.savefig(png, dpi=80, bbox_inches="tight")
    plt.close(fig)


def emit_csv(df, source: Path, out: Path | None) -> list[str]:
    """Predictions as CSV: to OUT (a file, or OUT/SOURCE.predictions.csv for a folder), else as lines to print."""
    text = df.to_csv(index=False)
    if not out:
        return text.rstrip("\n").split("\n")
    target = out / f"{source.stem}.predictions.csv" if out.is_dir() else out
    atomic_write_text(target, text)
    return [f"{source}: {len(df)} rows -> {target}"]
