"""Shared test helpers: a learner's project to run hostile commands in, small image files, snapshots."""

import json
import os
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output
from PIL import Image

from fastcourse.data import embedded

KAGGLE_CELL = ("# It's a good idea to ensure you're running the latest version of any libraries you need.\n"
               "# `!pip install -Uqq <libraries>` upgrades to the latest version of <libraries>\n"
               "# NB: You can safely ignore any warnings or errors pip spits out about running as root or incompatibilities\n"
               "import os\n"
               "iskaggle = os.environ.get('KAGGLE_KERNEL_RUN_TYPE', '')\n\n"
               "if iskaggle:\n"
               "    !pip install -Uqq fastai 'duckduckgo_search>=6.2'")
SEARCH_CELL = ("from duckduckgo_search import DDGS\n"
               "from fastcore.all import *\n\n"
               "def search_images(keywords, max_images=200): return L(DDGS().images(keywords, max_results=max_images)).itemgot('image')")
OLD_SEARCH_CELL = ("from duckduckgo_search import ddg_images\nfrom fastcore.all import *\n\n"
                   "def search_images(term, max_images=30):\n    print(f\"Searching for '{term}'\")\n"
                   "    return L(ddg_images(term, max_results=max_images)).itemgot('image')")


def snapshot(root: Path) -> dict:
    """Every path under `root`: a link's target, a file's content hash and mode, or that it is a folder."""
    import hashlib

    out = {}
    for p in sorted(Path(root).rglob("*")):
        rel = p.relative_to(root).as_posix()
        if p.is_symlink():
            out[rel] = ("link", os.readlink(p))
        elif p.is_file():
            out[rel] = ("file", hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mode & 0o777)
        else:
            out[rel] = ("dir",)
    return out


def png(path: Path, size=(32, 32), color=(200, 10, 10)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(path)
    return path


def bomb(path: Path) -> Path:
    """A small PNG that decodes to 400 million pixels."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("1", (20000, 20000)).save(path)
    return path


def fake_model(folder: Path, spec: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.json").write_text(json.dumps(spec))
    (folder / "model.onnx").write_bytes(b"\0")


def bad_notebook(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('{"cells": 3')
    return path


def setup_project(home: Path) -> None:
    """What a learner's project holds before the hostile command: data, a model, a bundle, notebooks."""
    embedded.write_digits(home)
    (home / "data/keep/notes.txt").parent.mkdir(parents=True)
    (home / "data/keep/notes.txt").write_text("mine")
    fake_model(home / "models/nolabels", {"size": [32, 32]})
    png(home / "few/a/1.png"), png(home / "few/b/1.png")
    png(home / "emptyclass/a/1.png"), png(home / "emptyclass/a/2.png"), (home / "emptyclass/b").mkdir()
    (home / "emptyclass/b/readme.txt").write_text("not an image")
    bomb(home / "inputs/bomb.png")
    bad_notebook(home / "nbs/broken.ipynb")
    (home / "urls/bin.txt").parent.mkdir()
    (home / "urls/bin.txt").write_bytes(b"\xff\xfe\x00binary")
    clean = home / "data/digits/clean"
    clean.mkdir()
    (clean / "decisions.csv").write_text("file,verdict\n0001.png,delete\n")


def official_notebook(path: Path) -> Path:
    """A notebook with the exact cell shapes of course22's lesson 1."""
    out = new_output("stream", name="stdout", text="Searching for 'bird photos'\n")
    cells = [new_markdown_cell("# Is it a bird?"), new_code_cell(KAGGLE_CELL), new_code_cell("!pip install -Uqq fastai"),
             new_code_cell("!pip install -Uqq duckduckgo_search"), new_code_cell(SEARCH_CELL),
             new_code_cell(OLD_SEARCH_CELL), new_code_cell("urls = search_images('bird photos', max_images=1)\nurls[0]",
                                                           outputs=[out], execution_count=3),
             new_code_cell("!pip install -Uqq timm")]
    nbformat.write(new_notebook(cells=cells), path)
    return path


def changed_outside(before: dict, after: dict, *owned: str) -> set[str]:
    """Paths whose snapshot entry changed and that lie neither under an `owned` path nor on the way to one
    (a task may create the folders that lead to its own)."""
    def mine(k: str) -> bool:
        return any(k == o or k.startswith(o.rstrip("/") + "/") or o.startswith(k + "/") for o in owned)

    return {k for k in before.keys() | after.keys() if before.get(k) != after.get(k) and not mine(k)}


def repickle(src: Path, dest: Path, renames: dict[str, str]) -> None:
    """Copy a torch/fastai pickle (a zip holding data.pkl) with some pickled strings renamed, e.g. a function's
    module as an older release of the kit wrote it."""
    import pickletools
    import struct
    import zipfile

    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dest, "w", zipfile.ZIP_STORED) as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename.endswith("/data.pkl"):
                out, last = bytearray(), 0
                for op, arg, pos in pickletools.genops(data):
                    if op.name in ("BINUNICODE", "SHORT_BINUNICODE") and arg in renames:
                        end = pos + 1 + (4 if op.name == "BINUNICODE" else 1) + len(arg.encode())
                        new = renames[arg].encode()
                        out += data[last:pos] + b"X" + struct.pack("<I", len(new)) + new
                        last = end
                    elif op.name == "GLOBAL" and any(part in renames for part in arg.split(" ")):
                        module, name = (renames.get(part, part) for part in arg.split(" "))
                        out += data[last:pos] + f"c{module}\n{name}\n".encode()
                        last = pos + 1 + len(arg) + 1  # "c", module, "\n", name, "\n"
                data = bytes(out + data[last:])
            zout.writestr(info, data)
