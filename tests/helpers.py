"""Shared test helpers: a learner's project to run hostile commands in, small image files, snapshots."""

import json
import os
from pathlib import Path

import nbformat
import pytest
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
    """What a learner's project holds before a hostile command: data, models, notebooks, and bad inputs of
    every kind the hostile tables use (bad folders, links out, other encodings, broken model files)."""
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
    (home / "urls/bin.txt").write_bytes(b"\x89PNG\x00\xff binary")
    (home / "urls/utf16.txt").write_text("http://127.0.0.1:9/a.jpg\n", encoding="utf-16")
    clean = home / "data/digits/clean"
    clean.mkdir()
    (clean / "decisions.csv").write_text("file,verdict\n0001.png,delete\n")
    outside = home / "elsewhere"  # a folder outside every task's own, that links point into
    (outside / "cats").mkdir(parents=True)
    png(outside / "cats/1.png")
    (home / "models/linked").symlink_to(outside, target_is_directory=True)
    (home / "tables").mkdir()
    (home / "tables/header.csv").write_text("island,sex,bill_length_mm,bill_depth_mm,flipper_length_mm,"
                                            "body_mass_g,year,species\n")
    penguins = (home / "tables/header.csv").read_text() + "".join(
        f"Biscoe,male,{40 + i % 7},{17 + i % 3},{190 + i},{4000 + 10 * i},2008,{'Adelie' if i % 2 else 'Gentoo'}\n"
        for i in range(30))
    (home / "tables/text.csv").write_text(penguins.replace("4010,", "heavy,", 1))
    (home / "tables/few.csv").write_text("\n".join(penguins.splitlines()[:6]) + "\n")
    (home / "tables/nocol.csv").write_text(penguins.replace(",body_mass_g", "", 1))
    (home / "tables/utf16.csv").write_text(penguins, encoding="utf-16")
    (home / "tables/ratings.csv").write_text("user,item,rating\n" + "".join(f"{i},{i % 5},x{i}\n" for i in range(30)))
    (home / "tables/noitem.csv").write_text("user,rating\n1,3\n")
    tiny_dataset(home, "unknownpath", "images/a/nothere.png,delete,\n")
    tiny_dataset(home, "qlink", "images/a/1.png,delete,\n")
    (home / "data/qlink/quarantine").symlink_to(outside, target_is_directory=True)
    tiny_dataset(home, "classlink", "images/a/1.png,relabel,cats\n")
    (home / "data/classlink/images/cats").symlink_to(outside / "cats", target_is_directory=True)
    tiny_dataset(home, "utf16dec", "images/a/1.png,delete,\n", encoding="utf-16")
    (home / "urls/cats.txt").write_text("http://127.0.0.1:9/a.jpg\n")
    (home / "data/linkout/images").mkdir(parents=True)
    (home / "data/linkout/images/cats").symlink_to(outside / "cats", target_is_directory=True)
    models = home / "models"  # portable model folders, each broken in one way
    tiny_classifier(models / "good")
    (tiny_classifier(models / "truncated") / "model.json").write_text('{"classes": ["3", "7"], "size": [32')
    spec = tiny_classifier(models / "classstring") / "model.json"
    spec.write_text(spec.read_text().replace('["3", "7"]', '"3,7"'))
    tiny_classifier(models / "zoom", resize="zoom")
    tiny_classifier(models / "negstd", std=[0.2, 0, 0.2])
    tiny_classifier(models / "mismatch", classes=("a", "b", "c"), outputs=2)
    (tiny_classifier(models / "nulltask") / "config.json").write_text('{"task": null}')
    (tiny_classifier(models / "listjson") / "model.json").write_text("[1, 2]")


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


def tiny_classifier(folder: Path, classes=("3", "7"), outputs: int | None = None, **spec) -> Path:
    """A portable model folder as `inv train` writes it, without training: model.onnx maps an image to the mean
    of each channel, then to class probabilities (a fixed matrix), and model.json describes it."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    n = outputs or len(classes)
    weights = np.arange(3 * n, dtype=np.float32).reshape(3, n) / (3 * n)
    graph = helper.make_graph(
        [helper.make_node("ReduceMean", ["image", "axes"], ["mean"], keepdims=0),
         helper.make_node("MatMul", ["mean", "w"], ["logits"]), helper.make_node("Softmax", ["logits"], ["probs"])],
        "tiny", [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 3, 32, 32])],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["batch", n])],
        initializer=[numpy_helper.from_array(weights, "w"), numpy_helper.from_array(np.array([2, 3]), "axes")])
    folder.mkdir(parents=True, exist_ok=True)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), folder / "model.onnx")
    fields = {"format": "fastcourse-portable/1", "classes": list(classes), "size": [32, 32], "resize": "squish",
              "pad_mode": "reflection", "mean": [0.5] * 3, "std": [0.25] * 3, **spec}
    (folder / "model.json").write_text(json.dumps(fields))
    return folder


def tiny_dataset(home: Path, name: str, decisions: str = "", encoding: str = "utf-8") -> Path:
    """data/NAME with two classes of two images each, their manifest, and clean/decisions.csv rows `decisions`."""
    from fastcourse.data import manifest

    ds = home / "data" / name
    rows = []
    for cat in ("a", "b"):
        for i in (1, 2):
            png(ds / f"images/{cat}/{i}.png", color=(100 * i, 10, 10))
            rows.append({"status": "kept", "category": cat, "url": f"http://example.com/{cat}{i}.png", "query": cat,
                         "sha256": f"{cat}{i}", "width": 32, "height": 32, "path": f"images/{cat}/{i}.png"})
    manifest.write(ds / "manifest.csv", rows)
    (ds / "clean").mkdir()
    (ds / "clean/decisions.csv").write_text("path,action,new_category\n" + decisions, encoding=encoding)
    return ds


def hostile(home: Path, args: list[str], env: dict, message: str, owns: str | None, timeout: float = 300):
    """Run `inv ARGS` in a learner's project: it should exit 1 with `message` in its last line, print no
    traceback, and change nothing outside `owns` (the task's own folder)."""
    from conftest import run_inv

    setup_project(home)
    before = snapshot(home)
    p = run_inv(*args, home=home, env=env, timeout=timeout)
    assert p.returncode == 1, p.stdout[-1500:] + p.stderr[-1500:]
    assert "Traceback" not in p.stdout + p.stderr, p.stderr[-3000:]
    lines = p.stderr.strip().splitlines()
    assert lines and any(message in line for line in lines[-6:]), p.stderr[-1500:]
    assert changed_outside(before, snapshot(home), *([owns] if owns else [])) == set()
    if os.environ.get("FASTCOURSE_HOSTILE_TABLE"):  # the table for a closing note: the command and its answer
        answer = next(line for line in reversed(lines[-6:]) if message in line).replace(str(home), "~")
        with open(os.environ["FASTCOURSE_HOSTILE_TABLE"], "a", encoding="utf-8") as f:
            f.write(f"inv {' '.join(args)}\t{answer}\n")
    return p


def ids(rows) -> list[str]:
    """Readable test ids for a hostile table: the command line of each row."""
    return [" ".join(r[0])[:60] for r in rows]


def browser_path() -> str:
    """Debian's chromium (setup.sh --dev), else another Chromium or Chrome on PATH (GitHub's runners)."""
    import shutil

    found = next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)
    if not found:
        pytest.skip("no Chromium or Chrome on PATH: bash scripts/setup.sh --dev installs Debian's chromium")
    return found


CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]  # nothing leaves this machine


def screenshot(html: Path, png: Path) -> dict:
    """Open a report page in headless Chromium, save a full-page screenshot, and say what it shows:
    {images: [src of each <img> that loaded], headings: [...]}."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=browser_path(), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        page.goto(html.resolve().as_uri())
        page.wait_for_load_state("load")
        png.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(png), full_page=True)
        shown = page.evaluate("""() => ({images: [...document.images].filter(i => i.naturalWidth > 0)
                                            .map(i => i.getAttribute('src')),
                                          headings: [...document.querySelectorAll('h1,h2')].map(h => h.innerText)})""")
        browser.close()
    return shown


def fake_course22(src: Path) -> str:
    """A local git repository shaped as fastai/course22 is (checked on a fetched copy, 2026-12): its only branch
    is `master` (also its default), the lesson notebooks sit at the top as NN-name.ipynb, and clean/ holds
    copies without outputs; lesson 1's notebook has course22's cell shapes. Returns its file:// URL."""
    import subprocess

    src.mkdir(parents=True)
    official_notebook(src / "00-is-it-a-bird-creating-a-model-from-your-own-data.ipynb")
    (src / "clean").mkdir()
    official_notebook(src / "clean/00-is-it-a-bird-creating-a-model-from-your-own-data.ipynb")
    (src / "README.md").write_text("# course22\n")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "init.defaultBranch=main", "-C", str(src)]
    for cmd in (["init", "-q", "-b", "master"], ["add", "."], ["commit", "-qm", "course"]):
        subprocess.run(git + cmd, check=True, capture_output=True)
    return f"file://{src}"
