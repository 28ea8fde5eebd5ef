"""Patch the official course22 notebooks (00-10) to run outside Kaggle (`inv nb.patch`), idempotently.

- `iskaggle` conditionals become their local branch (the Kaggle branch, installs included, goes);
- `try: import fastkaggle / except: !pip install` becomes the import, and `!pip install` lines for
  packages this environment pins go;
- competition data (`kaggle.api.competition_download_cli`, `setup_comp`) comes through the kit:
  `path = kaggle_data('titanic')` -> data/kaggle/titanic/ (one clear line without credentials or rules);
- submitting (`competition_submit_cli`) and publishing (`push_notebook`) stay but run only when the
  learner opts in: FASTCOURSE_KAGGLE_SUBMIT=1 / FASTCOURSE_KAGGLE_PUSH=1;
- deprecated search imports (duckduckgo_search, ddg_images) become ddgs;
- keeps the original as NAME.orig.ipynb, touches only the cells it changes, validates nbformat.
"""

from __future__ import annotations

import re
import shlex
import textwrap
from pathlib import Path

from ..env.lock import read_lock
from ..errors import NotebookError
from ..fileio import atomic_write_text
from ..paths import lock_file

RENAMED = {"duckduckgo_search": "ddgs", "duckduckgo-search": "ddgs"}  # old name -> what we pin instead
PIP = re.compile(r"^\s*[!%]\s*pip3?\s+install\s+(?P<args>.*)$")
KAGGLE_IF = re.compile(r"^(?P<indent>\s*)if\s+(?P<neg>not\s+)?iskaggle\s*:\s*(?P<rest>.*)$")
ELSE = re.compile(r"^(?P<indent>\s*)else\s*:\s*(?P<rest>.*)$")
TRY_FASTKAGGLE = re.compile(r"try:\s*import fastkaggle\s*\nexcept\s+(?:ModuleNotFoundError|ImportError)\s*:\s*\n"
                            r"\s+[!%]\s*pip3?\s+install[^\n]*")
SETUP_COMP = re.compile(r"\bsetup_comp\(\s*([^,()]+?)\s*(?:,[^()]*(?:\([^()]*\)[^()]*)*)?\)")
DOWNLOAD_LINES = re.compile(r"^\s*(import\s+zipfile\s*,\s*kaggle|import\s+kaggle|import\s+zipfile|.*competition_download_cli\("
                            r"|.*ZipFile\(.*\)\.extractall\()")
PATH_OF = re.compile(r"^(?P<indent>\s*)(?P<var>\w+)\s*=\s*Path\((?P<q>['\"])(?P<comp>[\w-]+)(?P=q)\)\s*$")
KIT_IMPORT = "from fastcourse.competitions import kaggle_data  # fastcourse: data/kaggle/NAME, one line if it can't"
OPT_IN = [(re.compile(r"\.competition_submit(?:_cli)?\("), "FASTCOURSE_KAGGLE_SUBMIT", "submits to Kaggle as you"),
          (re.compile(r"\bpush_notebook\("), "FASTCOURSE_KAGGLE_PUSH", "publishes a notebook on Kaggle")]
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


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _block_end(lines: list[str], i: int, indent: int) -> int:
    """End (exclusive) of the block whose header is lines[i], trailing blank lines left out."""
    j = i + 1
    while j < len(lines) and (not lines[j].strip() or _indent(lines[j]) > indent):
        j += 1
    while j > i + 1 and not lines[j - 1].strip():
        j -= 1
    return j


def _branch(lines: list[str], i: int, indent: int, rest: str) -> tuple[list[str], int]:
    """The statements of the branch headed by lines[i] (an inline one included) and where it ends."""
    end = _block_end(lines, i, indent)
    body = ([" " * (indent + 4) + rest] if rest.strip() else []) + lines[i + 1:end]
    return body, end


def _reindent(body: list[str], indent: int) -> list[str]:
    return [(" " * indent + l) if l.strip() else "" for l in textwrap.dedent("\n".join(body)).split("\n")] if body else []


def _opt_in(body: list[str], indent: int) -> tuple[list[str], str]:
    """Guard a branch that acts on the learner's Kaggle account behind an opt-in variable ('' if it does not)."""
    text = "\n".join(body)
    for pattern, var, what in OPT_IN:
        if pattern.search(text):
            pad = " " * indent
            return [f"{pad}import os  # fastcourse: this cell {what}; it runs only with {var}=1",
                    f"{pad}if os.environ.get('{var}') == '1':", *_reindent(body, indent + 4)], var
    return [], ""


def reduce_iskaggle(src: str) -> tuple[str, list[str]]:
    """Every `if iskaggle` / `if not iskaggle` (with its else) reduced to the branch that runs off Kaggle."""
    lines, out, notes, i = src.split("\n"), [], [], 0
    while i < len(lines):
        m = KAGGLE_IF.match(lines[i])
        if not m:
            out.append(lines[i])
            i += 1
            continue
        indent = len(m["indent"])
        first, end = _branch(lines, i, indent, m["rest"])
        other: list[str] = []
        e = ELSE.match(lines[end]) if end < len(lines) else None
        if e and len(e["indent"]) == indent:
            other, end = _branch(lines, end, indent, e["rest"])
        kaggle, local = (other, first) if m["neg"] else (first, other)
        code = [k for k in kaggle if k.strip()]
        if code and all(PIP.match(k) for k in code):
            notes.append("removed Kaggle-only install: " + "; ".join(k.strip() for k in code))
        else:
            notes.append(f"kept the local branch of {lines[i].strip()!r}")
        guarded, var = _opt_in(local, indent)
        if var:
            notes.append(f"runs only when the learner opts in: {var}=1")
        out += guarded or _reindent(local, indent)
        i = end
    return "\n".join(out), notes


def kit_data(src: str) -> tuple[str, list[str]]:
    """Competition downloads through the kit: setup_comp(...) and kaggle.api.competition_download_cli."""
    notes = []
    if SETUP_COMP.search(src):
        src = SETUP_COMP.sub(lambda m: f"kaggle_data({m[1]})", src)
        notes.append("setup_comp(...) -> kaggle_data(...) (data/kaggle/NAME through the kit)")
    if "competition_download_cli(" in src:
        lines = [l for l in src.split("\n") if not DOWNLOAD_LINES.match(l)]
        lines = [l for k, l in enumerate(lines) if not (re.match(r"^\s*if not \w+\.exists\(\)\s*:\s*$", l)
                                                        and _block_end(lines, k, _indent(l)) == k + 1)]
        comp = ""
        for k, l in enumerate(lines):
            m = PATH_OF.match(l)
            if m:
                comp, lines[k] = m["comp"], f"{m['indent']}{m['var']} = kaggle_data('{m['comp']}')"
                break
        src = "\n".join(lines)
        notes.append(f"competition download -> kaggle_data({comp!r}) (data/kaggle/{comp} through the kit)")
    if notes and KIT_IMPORT not in src:
        src = KIT_IMPORT + "\n" + src
    return src, notes


def patch_source(src: str, pins: set[str], ctx: dict | None = None) -> tuple[str, list[str]]:
    """One code cell's new source and what changed in it (ctx: the notebook's name and code, for drift rules)."""
    from . import drift

    notes = []
    if TRY_FASTKAGGLE.search(src):
        src = TRY_FASTKAGGLE.sub("import fastkaggle", src)
        notes.append("try: import fastkaggle / except: pip install -> import fastkaggle (installed here)")
    src, more = reduce_iskaggle(src)
    notes += more
    src, more = kit_data(src)
    notes += more
    out = []
    for line in src.split("\n"):
        pm = PIP.match(line)
        if pm and not line.startswith((" ", "\t")) and _pinned(pm["args"], pins):
            notes.append(f"removed install of pinned packages: {line.strip()}")
            continue
        new = line
        for pattern, repl in IMPORTS:
            new = pattern.sub(repl, new)
        if new != line:
            notes.append(f"rewrote {line.strip()!r} -> {new.strip()!r}")
        out.append(new)
    src, more = drift.apply("\n".join(out), ctx if ctx is not None else {"name": "notebook.ipynb", "code": ""})
    return src, notes + more


def patch_notebook(path: Path, backup: bool = True, pins: set[str] | None = None) -> list[str]:
    """Patch one notebook in place; returns what changed (empty: the file was not written)."""
    import nbformat

    from .run import read_notebook

    pins = pins if pins is not None else pinned_packages()
    nb = read_notebook(path)
    notes, changed = [], set()
    ctx = {"name": path.name, "code": "\n".join(c.source for c in nb.cells if c.cell_type == "code")}
    for idx, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            cell.source, cell_notes = patch_source(cell.source, pins, ctx)
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
    from .run import KERNEL, kernelspec

    if nb.metadata.get("kernelspec", {}).get("name") != KERNEL:
        nb.metadata["kernelspec"] = kernelspec()
        notes.append(f"kernel: {KERNEL} (this environment, the one kernel inv nb.lab offers)")
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
    """Notebooks named or found under folders (backups and checkpoints left out). A notebook that is a link
    stands for its target (patched there, the link kept) when that lies inside the folder; else NotebookError."""
    out = []
    for p in map(Path, paths):
        if not p.exists() and not p.is_symlink():
            raise NotebookError(f"{p}: no such file or folder — fetch the course first (inv nb.course), or give the "
                                "folder where you unpacked it")
        found = sorted(p.rglob("*.ipynb")) if p.is_dir() else [p]
        for f in found:
            if f.name.endswith(".orig.ipynb") or ".ipynb_checkpoints" in f.parts:
                continue
            if f.is_symlink():
                within = p if p.is_dir() else f.parent
                target = f.resolve()
                if not target.is_relative_to(within.resolve()):
                    raise NotebookError(f"{f} is a link to {target}, outside {within} — patch the notebook where it "
                                        f"is: inv nb.patch {target}")
                f = target
            if f not in out:
                out.append(f)
    return out
