"""The package layout mirrors `inv`: stages over a flat core, with import arrows that run one way (read from
the source with ast, so a new arrow against the rule fails here)."""

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "fastcourse"
CORE = {"errors", "paths", "fileio", "console", "images", "credentials", "predict", "schema", "plots", "page",
        "fixes"}
STAGES = {"env", "containers", "data", "train", "serve", "nb"}
ALSO = {"train": {"data"}, "nb": {"env"}}  # the two arrows between stages the design allows
COMPAT = {"competitions": "data", "segment": "data"}  # thin re-exports of names learners' files hold


def modules() -> dict[str, Path]:
    """Every module of the package by dotted name below fastcourse ('data.fetch', 'errors', ...)."""
    out = {}
    for path in SRC.rglob("*.py"):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def imports(name: str, path: Path) -> set[str]:
    """The fastcourse modules `name` imports anywhere in it (top level or inside functions), by dotted name."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name[len("fastcourse."):] for a in node.names if a.name.startswith("fastcourse.")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            elif node.module and node.module.startswith("fastcourse"):
                mod = node.module[len("fastcourse."):] if node.module != "fastcourse" else ""
            else:
                continue
            found |= {f"{mod}.{a.name}".strip(".") if not node.module or mod == "" else mod for a in node.names}
    return {m for m in found if m}


def area(module: str) -> str:
    """The stage a module belongs to, or 'core'."""
    top = module.split(".")[0]
    return top if top in STAGES else "core" if top in CORE or top == "" else top


def test_the_tree_shows_the_stages():
    """src/fastcourse should hold exactly the core modules, the compatibility shims and one folder per stage."""
    top = {p.stem for p in SRC.glob("*.py")} - {"__init__"}
    assert top == CORE | set(COMPAT)
    assert {p.name for p in SRC.iterdir() if p.is_dir() and (p / "__init__.py").exists()} == STAGES
    for stage in STAGES:
        doc = ast.get_docstring(ast.parse((SRC / stage / "__init__.py").read_text()))
        assert doc and len(doc.splitlines()) <= 2, f"{stage}/__init__.py should say in a line what it is for"


def arrows() -> list[tuple[str, str]]:
    """(importer, imported) for every import between fastcourse modules."""
    return [(name, imp) for name, path in modules().items() for imp in imports(name, path)]


def test_import_arrows_run_one_way():
    """Stages should import only the core, themselves, train -> data and nb -> env; the core no stage."""
    wrong = []
    for src, dst in arrows():
        a, b = area(src), area(dst)
        if src in COMPAT:
            ok = b in ("core", COMPAT[src])
        elif a == "core":
            ok = b == "core"
        else:
            ok = b in ("core", a) or b in ALSO.get(a, set())
        if not ok:
            wrong.append(f"{src} -> {dst}")
    assert not wrong, "imports against the layout rule: " + ", ".join(sorted(wrong))


@pytest.mark.parametrize("src, dst, allowed", [("data.clean", "serve.app", False), ("train.run", "data.folders", True),
                                               ("errors", "paths", True), ("paths", "train.config", False),
                                               ("serve.bundle", "train.export", False), ("nb.patch", "env.lock", True)])
def test_the_rule_itself(src, dst, allowed):
    """The rule should tell an allowed arrow from a forbidden one (so the test above can fail)."""
    a, b = area(src), area(dst)
    ok = b == "core" if a == "core" else b in ("core", a) or b in ALSO.get(a, set())
    assert ok is allowed


def test_modules_fit_one_read():
    """Every module should stay under ~350 lines and open with a docstring that says what it is for."""
    for name, path in modules().items():
        text = path.read_text()
        assert len(text.splitlines()) <= 360, f"{name}: {len(text.splitlines())} lines"
        assert ast.get_docstring(ast.parse(text)), f"{name} has no module docstring"
