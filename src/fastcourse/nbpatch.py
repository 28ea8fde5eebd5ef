"""Patch the official course22 notebooks to run outside Kaggle (`inv nb.patch`), idempotently.

- removes Kaggle-only install logic (`if iskaggle: !pip install ...`) and `!pip install` lines
  for packages this environment already pins;
- rewrites deprecated search imports (duckduckgo_search, ddg_images) to ddgs;
- keeps the original as NAME.orig.ipynb, touches only the cells it changes, validates nbformat.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from .deps import read_lock
from .util import atomic_write_text, lock_file

RENAMED = {"duckduckgo_search": "ddgs", "duckduckgo-search": "ddgs"}  # old name -> what we pin instead
PIP = re.compile(r"^\s*[!%]\s*pip3?\s+install\s+(?P<args>.*)$")
KAGGLE_IF = re.compile(r"^(?P<indent>\s*)if\s+iskaggle\s*:\s*(?P<rest>.*)$")
ISKAGGLE_SET = re.compile(r"^\s*iskaggle\s*=\s*os\.environ\.get\(\s*['\"]KAGGLE_KERNEL_RUN_TYPE['\"].*$")
IMPORTS = [
    (re.compile(r"from\s+duckduckgo_search\s+import\s+ddg_images\b"), "from ddgs import DDGS"),
    (re.compile(r"from\s+duckduckgo_search\s+import\b"), "from ddgs import"),
    (re.compile(r"\bimport\s+duckduckgo_search\b"), "import ddgs"),
    (re.compile(r"\bddg_images\("), "DDGS().images("),
]


def pinned_packages() -> set[str]:
    """Package names this environment pins (normalized), plus old names we pin a successor for."""
    return set(read_lock(lock_file().read_text())) | set(RENAMED)


def pip_packages(args: str) -> list[str]:
    """Distribution names in `pip install` arguments ('-Uqq fastai "duckduckgo_search>=6.2"' -> [...])."""
    names = []
    for tok in shlex.split(args.split("#")[0]):
        if not tok.startswith("-"):
            names.append(re.split(r"[<>=!~\[; ]", tok, 1)[0].lower().replace("_", "-"))
    return names


def _pinned(args: str, pins: set[str]) -> bool:
    pkgs = pip_packages(args)
    return bool(pkgs) and all(p in pins or p.replace("-", "_") in pins for p in pkgs)


def patch_source(src: str, pins: set[str]) -> tuple[str, list[str]]:
    """One code cell's new source and what changed in it."""
    lines, out, notes, i = src.split("\n"), [], [], 0
    while i < len(lines):
        line, m = lines[i], KAGGLE_IF.match(lines[i])
        if m:  # `if iskaggle:` whose body is only pip installs -> drop the whole block
            body, j = ([m["rest"]] if m["rest"].strip() else []), i + 1
            while j < len(lines) and (not lines[j].strip() or len(lines[j]) - len(lines[j].lstrip()) > len(m["indent"])):
                body.append(lines[j])
                j += 1
            code = [b for b in body if b.strip()]
            if code and all(PIP.match(b) for b in code):
                notes.append("removed Kaggle-only install: " + "; ".join(b.strip() for b in code))
                i = j
                continue
        pm = PIP.match(line)
        if pm and not line.startswith((" ", "\t")) and _pinned(pm["args"], pins):
            notes.append(f"removed install of pinned packages: {line.strip()}")
            i += 1
            continue
        new = line
        for pattern, repl in IMPORTS:
            new = pattern.sub(repl, new)
        if new != line:
            notes.append(f"rewrote {line.strip()!r} -> {new.strip()!r}")
        out.append(new)
        i += 1
    return "\n".join(out), notes


def patch_notebook(path: Path, backup: bool = True, pins: set[str] | None = None) -> list[str]:
    """Patch one notebook in place; returns what changed (empty: the file was not written)."""
    import nbformat

    from .notebooks import read_notebook

    pins = pins if pins is not None else pinned_packages()
    nb = read_notebook(path)
    notes, changed = [], set()
    for idx, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            cell.source, cell_notes = patch_source(cell.source, pins)
            notes += [f"cell {idx}: {n}" for n in cell_notes]
            changed |= {idx} if cell_notes else set()
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    if changed and not re.search(r"\biskaggle\b(?!\s*=)", code):  # the flag is set but no longer used
        for idx, cell in enumerate(nb.cells):
            lines = cell.source.split("\n")
            if cell.cell_type == "code" and any(ISKAGGLE_SET.match(l) for l in lines):
                cell.source = "\n".join(l for l in lines if not ISKAGGLE_SET.match(l))
                notes.append(f"cell {idx}: removed the unused iskaggle flag")
                changed.add(idx)
    if not notes:
        return []
    empty = {i for i in changed if not _has_code(nb.cells[i].source)}
    notes += [f"cell {i}: removed (nothing left to run)" for i in sorted(empty)]
    nb.cells = [c for i, c in enumerate(nb.cells) if i not in empty]
    nbformat.validate(nb)
    if backup:
        orig = path.with_name(path.name[: -len(".ipynb")] + ".orig.ipynb")
        if not orig.exists():
            orig.write_bytes(path.read_bytes())
    atomic_write_text(path, nbformat.writes(nb) + "\n")
    return notes


def _has_code(src: str) -> bool:
    """Anything left to run besides comments and the `import os` that only served iskaggle."""
    return any(l.strip() and not l.strip().startswith("#") and l.strip() != "import os" for l in src.split("\n"))


def notebooks_in(paths: list[Path]) -> list[Path]:
    """Notebooks named or found under folders (backups and checkpoints left out)."""
    out = []
    for p in map(Path, paths):
        found = sorted(p.rglob("*.ipynb")) if p.is_dir() else [p]
        out += [f for f in found if not f.name.endswith(".orig.ipynb") and ".ipynb_checkpoints" not in f.parts]
    return out
