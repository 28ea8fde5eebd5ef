"""Data cleaning after a first model: report top losses and failures per query, then apply decisions.

`report()` writes data/NAME/clean/{report.html, top_losses.png, queries.png, decisions.csv};
the learner edits decisions.csv (action: keep | delete | relabel, new_category), and `apply()`
checks every line, then moves deleted images to data/NAME/quarantine/ (never destroyed) and relabeled ones
to their new folder, recording each change in the manifest and marking the line `done`. fastai's ImageClassifierCleaner works on the same folders.
"""

from __future__ import annotations

import csv
import io
import math
import shutil
from collections import Counter
from pathlib import Path

from ..errors import DataError, UserError
from ..fileio import atomic_write_text, read_text
from ..paths import inside
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
    write_decisions(out / "decisions.csv", merge_decisions(read_decisions(out / "decisions.csv"), scored))
    from ..schema import describe

    atomic_write_text(out / "report.html", render(ds.name, worst, per_query, describe(model_dir)))
    return out / "report.html"


def query_table(rows: list[dict], scored: list[dict]) -> list[dict]:
    """Per query: URLs kept, duplicate and failed, and how many kept images the model disputes."""
    disputed = Counter(r["query"] for r in scored if r["predicted"] != r["category"])
    return [{**q, "disputed": disputed[q["query"]]} for q in manifest.summary(rows, key="query")]


def render(name: str, worst: list[dict], per_query: list[dict], model: str) -> str:
    """The cleaning page (the kit's one report page): which model judged, each top-loss image once, by query."""
    from .. import page

    cells = "".join(
        f'<figure><img src="../{page.esc(r["path"])}" width="128" alt="{page.esc(r["path"])}"><figcaption>'
        f'{page.esc(r["category"])} → {page.esc(r["predicted"])}<br>loss {r["loss"]:.2f}<br>'
        f'<small>{page.esc(r["path"])}</small></figcaption></figure>' for r in worst)
    lead = (f"<p>Judged by {page.esc(model)}.</p><p>Edit <code>decisions.csv</code> (action: keep, delete or relabel "
            f"with new_category), then run <code>inv data.clean --name {page.esc(name)} --apply</code>. Deleted images "
            "go to quarantine/, never destroyed.</p>")
    table = page.table([{"query": q["query"] or "(none)", "kept": q["kept"], "duplicate": q["duplicate"],
                         "failed": q["failed"], "disputed by the model": q["disputed"]} for q in per_query])
    return page.render(f"Cleaning {name}", lead, [("Top losses (the model disagrees most)", cells or "<p>(none)</p>"),
                                                  ("By query", table + page.image("queries.png", "per query"))])


def read_decisions(path: Path) -> list[dict]:
    """The rows of decisions.csv (empty when missing), UTF-8 with or without Excel's BOM; DataError when it is
    not a CSV or its columns are not ours."""
    if not path.exists():
        return []
    try:
        reader = csv.DictReader(io.StringIO(read_text(path), newline=""))
        rows = list(reader)
    except csv.Error as e:
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
    """Carry out decisions.csv: quarantine deletions, move relabels, update the manifest and mark each row done."""
    with manifest.locked(ds):
        return _apply(ds, ds / "clean/decisions.csv")


def plan(ds: Path, decisions: list[dict], rows: list[dict]) -> list[tuple[int, dict, dict, Path]]:
    """(line, decision, manifest row, destination) for each move, every decision checked first: DataError listing
    each bad line (unknown action or category, a path not in the manifest, a move that would leave the dataset)."""
    by_path = {r.get("path"): r for r in rows}
    categories = {d.name for d in (ds / "images").iterdir() if d.is_dir() and not d.is_symlink()}
    moves, problems = [], []
    for i, d in enumerate(decisions, start=2):
        action = (d.get("action") or "keep").strip().lower()
        new = (d.get("new_category") or "").strip()
        row = by_path.get(d.get("path"))
        if action in ("keep", "done"):
            continue
        if action not in ("delete", "relabel"):
            problems.append(f"line {i}: action {action!r} — use keep, delete or relabel")
        elif action == "relabel" and new not in categories:
            problems.append(f"line {i}: new_category {new!r} is not one of {sorted(categories)}")
        elif row is None or row.get("status") != "kept":
            problems.append(f"line {i}: {d.get('path')!r} is not a kept image of data/{ds.name}/manifest.csv")
        else:
            dest = Path("quarantine") / row["category"] if action == "delete" else Path("images") / new
            try:
                inside(ds / d["path"], ds), inside(ds / dest / "x", ds)
            except UserError as e:
                problems.append(f"line {i}: {e}")
                continue
            moves.append((i, {**d, "action": action}, row, dest))
    if problems:
        raise DataError(f"decisions.csv has {len(problems)} problem(s), nothing was applied — fix them and run "
                        "again:\n" + "\n".join(problems[:20]))
    return moves


def _apply(ds: Path, path: Path) -> Counter:
    """apply() under the dataset's lock: every decision checked, then each move recorded as it is made."""
    decisions = read_decisions(path)
    rows = manifest.read(ds / "manifest.csv")
    done = Counter({"already applied": sum((d.get("action") or "").strip().lower() == "done" for d in decisions)})
    for _, d, row, folder in plan(ds, decisions, rows):
        src = ds / d["path"]
        dest, n = folder / src.name, 1
        while (ds / dest).exists():  # never move over a file already there
            dest, n = folder / f"{src.stem}-{n}{src.suffix}", n + 1
        (ds / dest).parent.mkdir(parents=True, exist_ok=True)
        shutil.move(src, ds / dest)
        if d["action"] == "delete":
            row.update(status="deleted", reason="deleted while cleaning (kept in quarantine/)")
        else:
            row.update(reason=f"relabeled from {row['category']} while cleaning", category=d["new_category"].strip())
        row["path"] = dest.as_posix()
        manifest.write(ds / "manifest.csv", rows)  # after each move: an interruption loses nothing
        mark_done(path, d["path"], dest.as_posix())
        done[d["action"]] += 1
    return +done


def mark_done(path: Path, old: str, new: str) -> None:
    """Record in decisions.csv that the row of `old` was applied (action done, path where the image is now)."""
    rows = read_decisions(path)
    for r in rows:
        if r.get("path") == old and (r.get("action") or "").strip().lower() in ("delete", "relabel"):
            r.update(action="done", path=new)
    write_decisions(path, rows)


def write_decisions(path: Path, rows: list[dict]) -> None:
    """decisions.csv, rewritten atomically with our columns first."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, COLUMNS, extrasaction="ignore")
    w.writeheader()
    w.writerows(rows)
    atomic_write_text(path, buf.getvalue())
