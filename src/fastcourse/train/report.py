"""After training: metrics.json, the task's plots and report.html (one page for every task)."""

from __future__ import annotations

import json
import platform
from importlib import metadata
from pathlib import Path

from .. import page
from ..fileio import atomic_write_text

PACKAGES = ["torch", "torchvision", "fastai", "fastcore", "onnxruntime", "gradio"]


def versions() -> dict:
    """Installed versions of the packages that shape a model."""
    out = {"python": platform.python_version()}
    for p in PACKAGES:
        try:
            out[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            pass
    return out


def manifest_digest(data: Path) -> str:
    """sha256 of the dataset's manifest.csv, when it has one (provenance of an image dataset)."""
    import hashlib

    for path in (Path(data) / "manifest.csv", Path(data).parent / "manifest.csv"):
        if path.is_file():
            return hashlib.sha256(path.read_bytes()).hexdigest()
    return ""


def write(learn, out: Path, config: dict, mod, wall: float, data: Path) -> dict:
    """Write the metrics, the task's plots and the HTML report into `out`; return the metrics."""
    metrics = {**mod.evaluate(learn, data), "task": config["task"], "epochs": config["epochs"],
               "wall_s": round(wall, 1), "seed": config["seed"], "pretrained": config["pretrained"],
               "data_manifest_sha256": manifest_digest(data), "versions": versions()}
    mod.plot(learn, out)
    atomic_write_text(out / "metrics.json", json.dumps(metrics, indent=2))
    atomic_write_text(out / "report.html", render(config.get("name", out.name), metrics, config, mod))
    return metrics


def render(name: str, metrics: dict, config: dict, mod) -> str:
    """The report: the headline, the task's table and plots, the configuration."""
    lead = (f"<p><b>{page.esc(mod.headline(metrics))}</b> on {metrics['valid_items']} held-out items; "
            f"{metrics['epochs']} epochs in {metrics['wall_s']} s. {page.esc(config.get('recipe', ''))}.</p>")
    sections = []
    if "per_class" in metrics:
        rows = [{"class": c, "precision": f"{m['precision']:.3f}", "recall": f"{m['recall']:.3f}",
                 "images": m["support"]} for c, m in metrics["per_class"].items()]
        sections.append(("Per class", page.table(rows)))
    sections += [(title, page.image(png, title)) for png, title in mod.PLOTS.items()]
    sections.append(("Configuration", page.pre(json.dumps(config, indent=2))))
    return page.render(f"Model {name} ({config['task']})", lead, sections)
