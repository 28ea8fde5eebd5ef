"""Issue 6: nb.patch on official-shaped notebooks, nb.run failures, nb.export, nb.course, nb.lab."""

import json
import time
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from conftest import REPO, free_port, run_inv, wait_http

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


def test_patch_official_shapes(tmp_path):
    """nb.patch should drop Kaggle installs and pinned pip cells, rewrite search imports, keep a backup and outputs."""
    nb_path = official_notebook(tmp_path / "00-is-it-a-bird.ipynb")
    original = nb_path.read_bytes()
    p = run_inv("nb.patch", str(tmp_path), home=tmp_path)
    assert p.returncode == 0, p.stderr
    assert "change(s)" in p.stdout and "Kaggle-only install" in p.stdout
    assert (tmp_path / "00-is-it-a-bird.orig.ipynb").read_bytes() == original
    nb = nbformat.read(nb_path, as_version=4)
    nbformat.validate(nb)
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    joined = "\n".join(code)
    assert "iskaggle" not in joined and "!pip install -Uqq fastai" not in joined
    assert "duckduckgo_search" not in joined and "ddg_images" not in joined
    assert "from ddgs import DDGS" in code[0] and "DDGS().images(term, max_results=max_images)" in code[1]
    assert "!pip install -Uqq timm" in joined  # timm is not pinned here: left for the learner
    kept = next(c for c in nb.cells if c.cell_type == "code" and c.source.startswith("urls ="))
    assert kept.outputs[0]["text"] == "Searching for 'bird photos'\n" and kept.execution_count == 3


def test_patch_is_idempotent(tmp_path):
    """Patching twice should change nothing the second time (same bytes, reported unchanged)."""
    nb_path = official_notebook(tmp_path / "lesson.ipynb")
    assert run_inv("nb.patch", str(nb_path), "--no-backup", home=tmp_path).returncode == 0
    once = nb_path.read_bytes()
    p = run_inv("nb.patch", str(nb_path), home=tmp_path)
    assert p.returncode == 0 and "unchanged" in p.stdout
    assert nb_path.read_bytes() == once
    assert not (tmp_path / "lesson.orig.ipynb").exists()


def test_patch_keeps_kaggle_data_logic(tmp_path):
    """An iskaggle conditional that does more than install packages should stay."""
    src = ("import os\niskaggle = os.environ.get('KAGGLE_KERNEL_RUN_TYPE', '')\n"
           "if iskaggle: path = Path('../input/titanic')\nelse:\n    path = Path('titanic')")
    path = tmp_path / "titanic.ipynb"
    nbformat.write(new_notebook(cells=[new_code_cell(src)]), path)
    p = run_inv("nb.patch", str(path), home=tmp_path)
    assert p.returncode == 0 and "unchanged" in p.stdout
    assert nbformat.read(path, as_version=4).cells[0].source == src


def failing_notebook(path: Path) -> Path:
    params = new_code_cell("fail = False")
    params.metadata["tags"] = ["parameters"]
    nbformat.write(new_notebook(cells=[params, new_code_cell("x = 1"), new_code_cell("assert not fail, 'asked to fail'")],
                                metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}),
                   path)
    return path


def test_nb_run_reports_failing_cell_and_keeps_copy(tmp_path):
    """A failing notebook should give a non-zero exit naming it and the cell, with the executed copy kept."""
    nb = failing_notebook(tmp_path / "check.ipynb")
    ok = run_inv("nb.run", "--", str(nb), home=tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert "check.ipynb  ok" in ok.stdout
    p = run_inv("nb.run", "-p", "fail=True", "--", str(nb), home=tmp_path)
    assert p.returncode != 0
    assert "check.ipynb failed at cell" in p.stderr and "AssertionError" in p.stderr
    executed = nbformat.read(tmp_path / "build/notebooks/check.ipynb", as_version=4)
    errors = [o for c in executed.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert errors and errors[0].evalue == "asked to fail"
    assert (tmp_path / "build/notebooks/check.html").exists()
    assert "fail = False" in nbformat.read(nb, as_version=4).cells[0].source  # original untouched


@pytest.mark.slow
def test_nb_export_app_runs(trained, tmp_path):
    """nb.export should write the #|export cells to app.py, which imports and classifies an image."""
    home, _ = trained
    out = tmp_path / "app.py"
    p = run_inv("nb.export", str(REPO / "notebooks/02-production.ipynb"), "--to", str(out), home=home)
    assert p.returncode == 0, p.stderr
    code = out.read_text()
    assert "def classify" in code and "gr.Interface" in code and "load_learner" not in code
    image = sorted((home / "data/digits/images/3").glob("*.png"))[0]
    r = subprocess.run([sys.executable, "-c", f"import app; from PIL import Image; "
                        f"p = app.classify(Image.open({str(image)!r})); print(max(p, key=p.get))"],
                       cwd=tmp_path, env={**os.environ, "FASTCOURSE_MODEL": str(home / "models/digits")},
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1] == "3"


def test_nb_course_offline_and_from_a_local_repo(tmp_path):
    """nb.course should fail in one line when the repo is unreachable, and clone + patch from a reachable one."""
    closed = f"http://127.0.0.1:{free_port()}/course22.git"  # forced offline: nothing listens there
    p = run_inv("nb.course", "--dest", "c22", "--repo", closed, home=tmp_path, timeout=300)
    assert p.returncode != 0 and "git could not get" in p.stderr and "inv nb.patch" in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1 and not (tmp_path / "c22").exists()
    src = tmp_path / "upstream"
    src.mkdir()
    official_notebook(src / "00-is-it-a-bird.ipynb")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(src)]
    for cmd in (["init", "-q", "-b", "main"], ["add", "."], ["commit", "-qm", "course"]):
        subprocess.run(git + cmd, check=True)
    p = run_inv("nb.course", "--dest", "c22", "--repo", f"file://{src}", home=tmp_path)
    assert p.returncode == 0, p.stderr
    assert "cloned" in p.stdout and "change(s)" in p.stdout
    assert "iskaggle" not in (tmp_path / "c22/00-is-it-a-bird.ipynb").read_text()
    again = run_inv("nb.course", "--dest", "c22", "--repo", f"file://{src}", home=tmp_path)
    assert again.returncode == 0 and "updated" in again.stdout and "stash list" in again.stdout
    stash = subprocess.run(["git", "-C", str(tmp_path / "c22"), "stash", "list"], capture_output=True, text=True)
    assert "before nb.course update" in stash.stdout  # earlier local changes kept, not dropped
    assert "iskaggle" not in (tmp_path / "c22/00-is-it-a-bird.ipynb").read_text()


def listening_addresses(port: int) -> set[str]:
    """Local addresses (hex, as in /proc/net/tcp*) listening on `port`."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            if state == "0A" and int(local.split(":")[1], 16) == port:
                found.add(local.split(":")[0])
    return found


def test_nb_lab_loopback_and_token(tmp_path):
    """nb.lab should listen on 127.0.0.1 only, refuse an unauthenticated API call (403), register the kernel,
    and free its port when it gets SIGTERM (no JupyterLab left behind)."""
    port = free_port()
    env = {**os.environ, "JUPYTER_DATA_DIR": str(tmp_path / "jupyter"), "FASTCOURSE_HOME": str(tmp_path)}
    with open(tmp_path / "lab.log", "w+") as log:
        proc = subprocess.Popen([sys.executable, "-m", "invoke", "-r", str(REPO), "nb.lab", "--port", str(port)],
                                env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
        try:
            wait_http(f"http://127.0.0.1:{port}/login", proc, timeout=120)
            with pytest.raises(urllib.error.HTTPError) as e:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status", timeout=5)
            assert e.value.code == 403
            log.seek(0)
            url = next(l for l in log.read().splitlines() if "/lab?token=" in l).split()[-1]
            token = url.split("token=")[1]
            specs = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/api/kernelspecs?token={token}", timeout=5))
            assert specs["kernelspecs"]["fastcourse"]["spec"]["display_name"].endswith("(fastcourse)")
            assert listening_addresses(port) == {"0100007F"}  # 127.0.0.1, nothing on 0.0.0.0 or ::
        finally:
            proc.terminate()  # SIGTERM to the process `inv nb.lab` started as
            proc.wait(timeout=30)
    deadline = time.time() + 20
    while listening_addresses(port) and time.time() < deadline:
        time.sleep(0.2)
    assert not listening_addresses(port), "JupyterLab kept the port after inv nb.lab got SIGTERM"
