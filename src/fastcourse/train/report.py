"""After training: metrics.json (with the epoch table), the task's plots, loss.png, and report.html — one page
for every task: how good it is, on what data, why this recipe, how training went, what to run next."""

from __future__ import annotations

import json
import platform
from importlib import metadata
from pathlib import Path

from .. import page
from ..schema import weak_note
from ..fileio import atomic_write_text

PACKAGES = ["torch", "torchvision", "fastai", "fastcore", "onnxruntime", "gradio"]
PLAIN = {"error_rate": "error rate", "valid_loss": "validation loss", "train_loss": "training loss",
         "accuracy": "accuracy", "valid_mse": "validation MSE", "pixel_accuracy": "pixel accuracy",
         "mean_dice": "mean Dice", "time": "time", "epoch": "epoch", "phase": "phase"}


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


def write(learn, out: Path, config: dict, mod, wall: float, data: Path, epochs=None) -> dict:
    """Write the metrics, the plots and the HTML report into `out`; return the metrics."""
    from .progress import loss_plot

    with learn.no_bar():
        metrics = {**mod.evaluate(learn, data), "task": config["task"], "epochs": config["epochs"],
                   "wall_s": round(wall, 1), "seed": config["seed"], "pretrained": config["pretrained"],
                   "data_manifest_sha256": manifest_digest(data), "versions": versions(),
                   "epoch_table": epochs.rows if epochs else []}
        mod.plot(learn, out)
        summary = mod.summary(learn) if hasattr(mod, "summary") else []
    if epochs and epochs.losses:
        loss_plot(epochs, out / "loss.png")
    atomic_write_text(out / "metrics.json", json.dumps(metrics, indent=2))
    atomic_write_text(out / "report.html", render(config.get("name", out.name), metrics, config, mod, summary,
                                                  (out / "loss.png").exists()))
    return metrics


def dataset_line(config: dict) -> str:
    """What the data is, in words."""
    from ..data.embedded import describe

    return describe(Path(config["data"])) or f"your data in {config['data']}"


def next_commands(name: str, config: dict) -> str:
    """The commands a learner runs next with this model, as a block of the report."""
    return page.pre("\n".join(next_lines(name, config)))


def next_lines(name: str, config: dict) -> list[str]:
    """The commands a learner runs next with this model, each with a comment (the report and the terminal)."""
    model = f"models/{name}"
    dataset = Path(config["data"])
    rows = [(f"inv predict {_example(config)} --model {model}", "a prediction from the command line"),
            (f"inv app --model {model}", "try it in the browser (http://127.0.0.1:7860)"),
            (f"inv deploy --space YOU/{name} --model {model} --dry-run", "the Hugging Face Space, checked locally")]
    if config["task"] == "vision" and (dataset.parent / "manifest.csv").exists():
        rows.append((f"inv data.clean --name {dataset.parent.name} --model {model}", "find mislabeled images"))
    width = max(len(cmd) for cmd, _ in rows)
    return [f"{cmd.ljust(width)}   # {why}" for cmd, why in rows]


def _example(config: dict) -> str:
    """What to give inv predict: for a classifier, one of its own training images (a command that runs as
    shown); otherwise a stand-in name for the learner's own file."""
    from ..data.folders import class_images
    from ..paths import project_root

    data = Path(config["data"])
    if config["task"] == "vision" and data.is_dir():  # the images training used, the way it found them
        first = next((f for files in class_images(data, log=lambda line: None).values() for f in files
                      if " " not in f.name), None)
        if first is not None:
            return str(first.relative_to(project_root())) if first.is_relative_to(project_root()) else str(first)
    return {"vision": "photo.jpg", "segment": "photo.jpg", "tabular": "rows.csv", "collab": "USER,ITEM"}[config["task"]]


def loss_note(metrics: dict) -> str:
    """Why a from-scratch run's first validation loss can be huge: far above its own training loss, not merely
    above the last (a loss that falls as the model learns needs no excuse)."""
    rows = [r for r in metrics.get("epoch_table", []) if isinstance(r.get("valid_loss"), float)
            and isinstance(r.get("train_loss"), float)]
    if len(rows) > 1 and rows[0]["valid_loss"] > 20 * max(rows[0]["train_loss"], rows[-1]["valid_loss"], 1e-6):
        return (f"<p>The first validation loss ({rows[0]['valid_loss']:.4g}) is far above that epoch's training loss "
                f"({rows[0]['train_loss']:.4g}) and the last validation loss ({rows[-1]['valid_loss']:.4g}): trained "
                "from scratch, the model's batch-norm layers start with statistics of nothing yet, so its first "
                "predictions on held-out items are wild; they settle as training goes on. Trust the last epochs."
                "</p>")
    return ""


def render(name: str, metrics: dict, config: dict, mod, summary: list[dict], loss: bool) -> str:
    """The report page."""
    n = metrics["epochs"]
    weak = weak_note(metrics)
    lead = (f"<p><b>{page.esc(mod.headline(metrics))}</b> on {metrics['valid_items']} held-out items, after "
            f"{n} epoch{'s' if n != 1 else ''} in {metrics['wall_s']} s.</p>"
            + (f"<p><b>Warning:</b> {page.esc(weak)}.</p>" if weak else "")
            + f"<p>Data: {page.esc(dataset_line(config))}.</p><p>Recipe: {page.esc(config.get('recipe', ''))}.</p>")
    sections = [("Data", page.table(summary))] if summary else []
    if "per_class" in metrics:
        rows = [{"class": c, "precision": f"{m['precision']:.3f}", "recall": f"{m['recall']:.3f}",
                 "validation images": m["support"]} for c, m in metrics["per_class"].items()]
        sections.append(("Per class", page.table(rows)))
    if "dice" in metrics:
        sections.append(("Per class (Dice: overlap of predicted and true pixels, 1 is perfect)",
                         page.table([{"class": c, "Dice": f"{d:.3f}"} for c, d in metrics["dice"].items()])))
    table = [{PLAIN.get(k, k): f"{v:.4f}" if isinstance(v, float) else v for k, v in r.items()}
             for r in metrics.get("epoch_table", [])]
    if table:
        sections.append(("Training, epoch by epoch", page.table(table) + loss_note(metrics)
                         + (page.image("loss.png", "loss curve") if loss else "")))
    sections += [(title, page.image(png, title)) for png, title in mod.PLOTS.items()]
    sections.append(("Next", next_commands(name, config)))
    sections.append(("Configuration", page.pre(json.dumps(config, indent=2))))
    return page.render(f"Model {name} ({config['task']})", lead, sections)
