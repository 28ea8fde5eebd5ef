"""After training: metrics.json, confusion_matrix.png, top_losses.png and report.html."""

from __future__ import annotations

import html
import json
import platform
from importlib import metadata
from pathlib import Path

from . import manifest
from .util import atomic_write_text

PACKAGES = ["torch", "torchvision", "fastai", "fastcore", "onnxruntime", "gradio"]


def per_class(cm, classes) -> dict:
    """Precision and recall per class from a confusion matrix (rows = actual)."""
    out = {}
    for i, c in enumerate(classes):
        tp, predicted, actual = cm[i, i], cm[:, i].sum(), cm[i, :].sum()
        out[str(c)] = {"precision": float(tp / predicted) if predicted else 0.0,
                       "recall": float(tp / actual) if actual else 0.0, "support": int(actual)}
    return out


def versions() -> dict:
    """Installed versions of the packages that shape a model."""
    out = {"python": platform.python_version()}
    for p in PACKAGES:
        try:
            out[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            pass
    return out


def report(learn, out: Path, config: dict, wall: float, manifest_path: Path) -> dict:
    """Write the metrics, plots and HTML report into `out`; return the metrics."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from fastai.vision.all import ClassificationInterpretation

    interp = ClassificationInterpretation.from_learner(learn)
    cm = interp.confusion_matrix()
    classes = list(learn.dls.vocab)
    total = int(cm.sum())
    accuracy = float(cm.trace() / total) if total else 0.0
    metrics = {
        "error_rate": round(1 - accuracy, 6), "accuracy": round(accuracy, 6), "valid_items": total,
        "per_class": per_class(cm, classes), "epochs": config["epochs"], "wall_s": round(wall, 1),
        "seed": config["seed"], "pretrained": config["pretrained"],
        "data_manifest_sha256": manifest.digest(manifest_path), "versions": versions(),
    }
    interp.plot_confusion_matrix(figsize=(5, 5))
    plt.savefig(out / "confusion_matrix.png", dpi=80, bbox_inches="tight")
    k = min(9, total)
    interp.plot_top_losses(k, nrows=3 if k > 3 else 1, figsize=(9, 9))
    plt.savefig(out / "top_losses.png", dpi=80, bbox_inches="tight")
    plt.close("all")
    atomic_write_text(out / "metrics.json", json.dumps(metrics, indent=2))
    atomic_write_text(out / "report.html", render_html(config.get("name", out.name), metrics, config))
    return metrics


def render_html(name: str, metrics: dict, config: dict) -> str:
    """A one-page report: headline metrics, per-class table, the two plots, the config."""
    rows = "".join(f"<tr><td>{html.escape(c)}</td><td>{m['precision']:.3f}</td><td>{m['recall']:.3f}</td>"
                   f"<td>{m['support']}</td></tr>" for c, m in metrics["per_class"].items())
    return f"""<!doctype html><meta charset="utf-8"><title>{html.escape(name)} — fastcourse report</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto}}td,th{{padding:.2em .8em}}</style>
<h1>Model {html.escape(name)}</h1>
<p><b>error rate {metrics['error_rate']:.2%}</b> (accuracy {metrics['accuracy']:.2%}) on
{metrics['valid_items']} held-out images; {metrics['epochs']} epochs in {metrics['wall_s']} s;
{'pretrained' if metrics['pretrained'] else 'trained from scratch'}.</p>
<table><tr><th>class</th><th>precision</th><th>recall</th><th>images</th></tr>{rows}</table>
<h2>Confusion matrix</h2><img src="confusion_matrix.png" alt="confusion matrix">
<h2>Top losses</h2><img src="top_losses.png" alt="top losses" style="max-width:100%">
<h2>Configuration</h2><pre>{html.escape(json.dumps(config, indent=2))}</pre>
"""
