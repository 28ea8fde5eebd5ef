"""Drift rules: what the pinned 2026 stack breaks in the 2022 course notebooks, found by executing all eleven,
each fixed where the notebook says it. `inv nb.patch` applies them after the Kaggle rules; each is named in
its report line, idempotent, and tested by a notebook that fails before the rule and runs after it.

| rule | what breaks on the pinned stack | the fix written into the cell |
| get_dummies_float | pandas >= 2 makes get_dummies columns bool: the mixed frame becomes an object array
  that torch.tensor refuses (05) | `pd.get_dummies(..., dtype=float)` |
| sympy_expression | sympy >= 1.13 reads a string passed to plot as a label, not an expression (05) |
  `sympy.plot(sympy.sympify("..."))` |
| timm_results | timm deleted results-imagenet.csv and the benchmark CSVs in 2024 (03 clones the repo to
  read them) | the CSVs from the last commit that had them, by commit (fastcourse.nb.course.timm_results) |
| timm_nhwc | timm 1.x swin/swinv2 features are NHWC; fastai's head pools NCHW (10) | `import fastcourse.fixes` |
| kaggle_user | push cells publish as 'jhoward', under a file name that is not the local one (08, 09) |
  the learner's own Kaggle user (kaggle_user()) and this notebook's file name |
"""

from __future__ import annotations

import re

KIT = "  # fastcourse:"
FASTAI_VISION = re.compile(r"^(\s*)from fastai\.vision\.all import \*.*$", re.M)
SYMPY_STRING = re.compile(r"\bsympy\.plot\(\s*(?P<q>['\"])(?P<expr>[^'\"]*)(?P=q)")
TIMM_CLONE = re.compile(r"^\s*!\s*git clone[^\n]*pytorch-image-models(?:\.git)?[^\n]*\n\s*%cd\s+pytorch-image-models/"
                        r"results\s*$", re.M)
PUSH_USER = re.compile(r"\bpush_notebook\(\s*(['\"])jhoward\1")
PUSH_FILE = re.compile(r"(\bfile\s*=\s*)(['\"])[^'\"]*\.ipynb\2")


def _call_end(src: str, start: int) -> int:
    """Index of the ')' closing the call whose '(' is at `start` (strings and nesting respected)."""
    depth, quote, i = 0, "", start
    while i < len(src):
        ch = src[i]
        if quote:
            quote = "" if ch == quote and src[i - 1] != "\\" else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return -1


def get_dummies_float(src: str, ctx: dict) -> tuple[str, str]:
    """pd.get_dummies(...) without a dtype -> dtype=float (numbers torch and sklearn take as they did in 2022)."""
    out, pos, changed = [], 0, 0
    for m in re.finditer(r"\bget_dummies\(", src):
        if m.start() < pos:
            continue
        end = _call_end(src, m.end() - 1)
        if end < 0 or "dtype" in src[m.end():end]:
            continue
        out.append(src[pos:end] + ", dtype=float")
        pos, changed = end, changed + 1
    return ("".join(out) + src[pos:], "get_dummies_float: pd.get_dummies(..., dtype=float) (pandas >= 2 gives bool "
                                      "columns)") if changed else (src, "")


def sympy_expression(src: str, ctx: dict) -> tuple[str, str]:
    """sympy.plot("expr") -> sympy.plot(sympy.sympify("expr")) (sympy >= 1.13 takes a string as a label)."""
    new = SYMPY_STRING.sub(lambda m: f"sympy.plot(sympy.sympify({m['q']}{m['expr']}{m['q']})", src)
    return (new, "sympy_expression: sympy.plot(sympy.sympify(...)) (sympy >= 1.13 reads a string as a label)") \
        if new != src else (src, "")


def timm_results(src: str, ctx: dict) -> tuple[str, str]:
    """The clone of pytorch-image-models for its results/ CSVs -> those CSVs by commit, through the kit."""
    if not TIMM_CLONE.search(src):
        return src, ""
    new = TIMM_CLONE.sub("from fastcourse.nb.course import timm_results" + KIT + " timm deleted these CSVs in 2024; "
                         "the last commit that had them\n%cd {timm_results()}", src)
    return new, "timm_results: results/*.csv from the last pytorch-image-models commit that had them"


def timm_nhwc(src: str, ctx: dict) -> tuple[str, str]:
    """After fastai.vision's import: import fastcourse.fixes (timm 1.x NHWC swin features under fastai's head)."""
    if "fastcourse.fixes" in ctx["code"] or not FASTAI_VISION.search(src):
        return src, ""
    ctx["code"] += "fastcourse.fixes"
    new = FASTAI_VISION.sub(lambda m: m[0] + f"\n{m[1]}import fastcourse.fixes{KIT} timm 1.x swin features are NHWC, "
                            "fastai's head pools NCHW", src, count=1)
    return new, "timm_nhwc: import fastcourse.fixes after fastai.vision (swin/swinv2 under fastai's head)"


def kaggle_user(src: str, ctx: dict) -> tuple[str, str]:
    """push_notebook('jhoward', ..., file='x.ipynb') -> the learner's Kaggle user and this notebook's file name."""
    if "push_notebook(" not in src:
        return src, ""
    new = PUSH_USER.sub("push_notebook(kaggle_user()", src)
    new = PUSH_FILE.sub(lambda m: f"{m[1]}{m[2]}{ctx['name']}{m[2]}", new)
    if "kaggle_user()" in new and "import kaggle_user" not in new:
        new = f"from fastcourse.data.kaggle import kaggle_user{KIT} your Kaggle account, not the course author's\n" + new
    return (new, f"kaggle_user: push_notebook as your Kaggle user, file={ctx['name']!r}") if new != src else (src, "")


RULES = [get_dummies_float, sympy_expression, timm_results, timm_nhwc, kaggle_user]


def apply(src: str, ctx: dict) -> tuple[str, list[str]]:
    """Every drift rule on one cell's source: (new source, report lines)."""
    notes = []
    for rule in RULES:
        src, note = rule(src, ctx)
        if note:
            notes.append(note)
    return src, notes
