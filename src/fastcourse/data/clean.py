"""Data cleaning after a first model: report top losses and failures per query, then apply decisions.

`report()` writes data/NAME/clean/{report.html, top_losses.png, queries.png, decisions.csv};
the learner edits decisions.csv (action: keep | delete | relabel, new_category), and `apply()`
moves deleted images to data/NAME/quarantine/ (never destroyed) and relabeled ones to their new
folder, recording each change in the manifest. fastai's ImageClassifierCleaner works on the same folders.
"""

from __future__ import annotations

import csv
import html
import io
import math
import shutil
from collections import Counter
from pathlib import Path

from ..errors import DataError
from ..fileio import atomic_write_text
from ..images import open_image
from ..predict import PortableModel
from . import manifest

TOP = 30  # images shown in the report
COLUMNS = ["path", "category", "predicted", "loss", "query", "action", "new_category"]
NEEDED = {"path", "action", "new_category"}  # what apply() reads; the rest is for the learner


def losses(ds: Path, model: PortableModel, rows: list[dict]) -> list[dict]:
    """Per kept image of the manifest `rows`: its label, prediction and cross-entropy loss, worst first.

    Unreadable images (and decompression bombs) are skipped with a line each.
    """
    rows = [r for r in rows if r["status"] == "kept" and r.get("path")]
    unknown = sorted({r["category"] for r in rows} - set(model.classes))
    if unknown:
        raise DataError(f"the model knows {model.classes} but the dataset also has {unknown} — pass --model "
                        "a model trained on this dataset (inv train --data NAME --name NAME)")
    out = []
    for i in range(0, len(rows), 64):
        chunk, images = [], []
        for r in rows[i:i + 64]:
            try:
                images.append(open_image(ds / r["path"]))
                chunk.append(r)
            except DataError as e:
                print(f"skipped: {e}")
        for r, p in zip(chunk, model.probs(images) if images else []):
            loss = -math.log(max(float(p[model.classes.index(r["category"])]), 1e-12))
            out.append({"path": r["path"], "category": r["category"], "query": r["query"],
                        "predicted": model.classes[int(p.argmax())], "loss": round(loss, 4)})
    return sorted(out, key=lambda r: -r["loss"])


def report(ds: Path, model_dir: Path, top: int = TOP) -> Path:
    """Write the cleaning report and decisions.csv (the learner's decisions kept); returns the report path."""
    with manifest.locked(ds):
        return _report(ds, model_dir, top)


def _report(ds: Path, model_dir: Path, top: int) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = manifest.read(ds / "manifest.csv")
    scored = losses(ds, PortableModel(model_dir), rows)
    out = ds / "clean"
    out.mkdir(parents=True, exist_ok=True)
    worst = scored[:top]
    n = max(1, len(worst))
    cols = min(6, n)
    fig, axes = plt.subplots(math.ceil(n / cols), cols, figsize=(2.2 * cols, 2.4 * math.ceil(n / cols)),
                             squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, r in zip(axes.flat, worst):
        ax.imshow(open_image(ds / r["path"]))
        ax.set_title(f"{r['category']}→{r['predicted']}\nloss {r['loss']:.2f}", fontsize=8)
    fig.savefig(out / "top_losses.png", dpi=80, bbox_inches="tight")
    per_query = query_table(rows, scored)
    fig, ax = plt.subplots(figsize=(7, 0.5 + 0.4 * max(1, len(per_query))))
    labels = [q["query"] or "(none)" for q in per_query]
    ax.barh(labels, [q["kept"] for q in per_query], label="kept")
    ax.barh(labels, [q["failed"] for q in per_query], left=[q["kept"] for q in per_query], label="failed")
    ax.set_xlabel("URLs")
    ax.legend()
    fig.savefig(out / "queries.png", dpi=80, bbox_inches="tight")
    plt.close("all")
    buf = io.StringIO()
    w = csv.DictWriter(buf, COLUMNS, extrasaction="ignore")
    w.writeheader()
    w.writerows(merge_decisions(read_decisions(out / "decisions.csv"), scored))
    atomic_write_text(out / "decisions.csv", buf.getvalue())
    atomic_write_text(out / "report.html", render(ds.name, worst, per_query, ds))
    return out / "report.html"


def query_table(rows: list[dict], scored: list[dict]) -> list[dict]:
    """Per query: URLs kept, duplicate and failed, and how many kept images the model disputes."""
    disputed = Counter(r["query"] for r in scored if r["predicted"] != r["category"])
    return [{**q, "disputed": disputed[q["query"]]} for q in manifest.summary(rows, key="query")]


def render(name: str, worst: list[dict], per_query: list[dict], ds: Path) -> str:
    """The HTML page: thumbnails of the top losses and the per-query table."""
    cells = "".join(
        f'<figure><img src="../{html.escape(r["path"])}" width="128"><figcaption>{html.escape(r["category"])}'
        f' → {html.escape(r["predicted"])}<br>loss {r["loss"]:.2f}<br><small>{html.escape(r["path"])}</small>'
        "</figcaption></figure>" for r in worst)
    rows = "".join(f"<tr><td>{html.escape(q['query'])}</td><td>{q['kept']}</td><td>{q['duplicate']}</td>"
                   f"<td>{q['failed']}</td><td>{q['disputed']}</td></tr>" for q in per_query)
    return f"""<!doctype html><meta charset="utf-8"><title>Cleaning {html.escape(name)}</title>
<style>figure{{display:inline-block;margin:.4em;font:12px sans-serif}}td,th{{padding:.2em .6em}}</style>
<h1>Cleaning {html.escape(name)}</h1>
<p>Edit <code>decisions.csv</code> (action: keep, delete or relabel with new_category), then run
<code>inv data.clean --name {html.escape(name)} --apply</code>. Deleted images go to quarantine/.</p>
<h2>Top losses</h2>{cells}<p><img src="top_losses.png" alt="top losses"></p>
<h2>By query</h2><table><tr><th>query</th><th>kept</th><th>duplicate</th><th>failed</th>
<th>disputed by model</th></tr>{rows}</table><p><img src="queries.png" alt="per query"></p>
"""


def read_decisions(path: Path) -> list[dict]:
    """The rows of decisions.csv (empty when missing); DataError when its columns are not ours."""
    if not path.exists():
        return []
    try:
        with path.open(newline="") as f:
            reader = csv.DictReader(f)
            rows = list(reader)
    except (UnicodeDecodeError, csv.Error) as e:
        raise DataError(f"{path} is not a readable CSV ({e}) — fix it, or move it away to start afresh") from None
    missing = NEEDED - set(reader.fieldnames or [])
    if missing:
        raise DataError(f"{path} lacks the column(s) {', '.join(sorted(missing))} — keep the header "
                        f"{','.join(COLUMNS)}, or move the file away to start afresh")
    return rows


def merge_decisions(old: list[dict], scored: list[dict]) -> list[dict]:
    """New scores with the learner's decisions kept: rows already decided keep action and new_category."""
    decided = {d["path"]: d for d in old}
    merged = [{**r, "action": decided.get(r["path"], {}).get("action") or "keep",
               "new_category": decided.get(r["path"], {}).get("new_category") or ""} for r in scored]
    seen = {r["path"] for r in scored}
    return merged + [d for d in old if d["path"] not in seen]  # rows no longer scored are kept too


def apply(ds: Path) -> Counter:
    """Carry out decisions.csv: quarantine deletions, move relabels, update the manifest."""
    with manifest.locked(ds):
        return _apply(ds, read_decisions(ds / "clean/decisions.csv"))


def _apply(ds: Path, decisions: list[dict]) -> Counter:
    """apply() under the dataset's lock."""
    rows = manifest.read(ds / "manifest.csv")
    by_path = {r.get("path"): r for r in rows}
    categories = {d.name for d in (ds / "images").iterdir() if d.is_dir()}
    done = Counter()
    for i, d in enumerate(decisions, start=2):
        action = (d.get("action") or "keep").strip().lower()
        if action not in ("keep", "delete", "relabel"):
            raise DataError(f"decisions.csv line {i}: action {action!r} — use keep, delete or relabel")
        new = (d.get("new_category") or "").strip()
        if action == "relabel" and new not in categories:
            raise DataError(f"decisions.csv line {i}: new_category {new!r} is not one of {sorted(categories)}")
        row, src = by_path.get(d["path"]), ds / (d["path"] or "-")
        if row is not None and not src.resolve().is_relative_to(ds.resolve()):
            raise DataError(f"decisions.csv line {i}: path {d['path']!r} lies outside {ds}")
        if action == "keep":
            continue
        if row is None or not src.exists():
            done["already applied"] += 1
            continue
        if action == "delete":
            dest = Path("quarantine") / row["category"] / src.name
            row.update(status="deleted", reason="deleted while cleaning (kept in quarantine/)")
        else:
            dest = Path("images") / new / src.name
            row.update(reason=f"relabeled from {row['category']} while cleaning", category=new)
        n = 1
        while (ds / dest).exists():  # never move over a file already there
            dest, n = dest.with_name(f"{src.stem}-{n}{src.suffix}"), n + 1
        (ds / dest).parent.mkdir(parents=True, exist_ok=True)
        shutil.move(src, ds / dest)
        row["path"] = dest.as_posix()
        done[action] += 1
        manifest.write(ds / "manifest.csv", rows)  # after each move: an interruption loses nothing
    return done
