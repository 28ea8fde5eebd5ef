"""Issue 6: nb.patch on official-shaped notebooks, nb.run failures, nb.export, nb.course, nb.lab."""

import contextlib
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
    assert "!pip install -Uqq timm" not in joined  # timm is pinned here now (course22 08-10)
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


TITANIC_05 = ("import os\nfrom pathlib import Path\n\niskaggle = os.environ.get('KAGGLE_KERNEL_RUN_TYPE', '')\n"
              "if iskaggle: path = Path('../input/titanic')\nelse:\n    path = Path('titanic')\n"
              "    if not path.exists():\n        import zipfile,kaggle\n        kaggle.api.competition_download_cli(str(path))\n"
              "        zipfile.ZipFile(f'{path}.zip').extractall(path)")
TITANIC_06 = ("from pathlib import Path\nimport os\n\niskaggle = os.environ.get('KAGGLE_KERNEL_RUN_TYPE', '')\n"
              "if iskaggle:\n    path = Path('../input/titanic')\n    !pip install -Uqq fastai\nelse:\n"
              "    import zipfile,kaggle\n    path = Path('titanic')\n    kaggle.api.competition_download_cli(str(path))\n"
              "    zipfile.ZipFile(f'{path}.zip').extractall(path)")
FASTKAGGLE_08 = "# install fastkaggle if not available\ntry: import fastkaggle\nexcept ModuleNotFoundError:\n    !pip install -Uq fastkaggle\n\nfrom fastkaggle import *"
SETUP_08 = "comp = 'paddy-disease-classification'\n\npath = setup_comp(comp, install='fastai \"timm>=0.6.2.dev0\"')"
SUBMIT_08 = "if not iskaggle:\n    from kaggle import api\n    api.competition_submit_cli('subm.csv', 'initial rn26d 128px', comp)"
PUSH_08 = ("if not iskaggle:\n    push_notebook('jhoward', 'first-steps-road-to-the-top-part-1',\n"
           "                  title='First Steps: Road to the Top, Part 1',\n"
           "                  competition=comp, private=False, gpu=True)")


def course_notebook(path: Path, *sources) -> Path:
    nbformat.write(new_notebook(cells=[new_code_cell(s) for s in sources]), path)
    return path


def code_of(path: Path) -> list[str]:
    return [c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]


@pytest.mark.parametrize("source, gone, expect", [
    (TITANIC_05, ["iskaggle", "competition_download_cli", "../input", "zipfile"], "path = kaggle_data('titanic')"),
    (TITANIC_06, ["iskaggle", "!pip", "competition_download_cli", "../input"], "path = kaggle_data('titanic')"),
    (FASTKAGGLE_08, ["try:", "!pip"], "import fastkaggle\n\nfrom fastkaggle import *"),
    (SETUP_08, ["setup_comp"], "path = kaggle_data(comp)"),
])
def test_patch_course_patterns(tmp_path, source, gone, expect):
    """Each course22 pattern should become its local, kit-backed form, valid Python, patched once only."""
    path = course_notebook(tmp_path / "nb.ipynb", source)
    assert run_inv("nb.patch", str(path), home=tmp_path).returncode == 0
    [code] = code_of(path)
    for g in gone:
        assert g not in code, (g, code)
    assert expect in code
    compile(code, "cell", "exec")  # no leftover else:, no shell escapes
    if "kaggle_data" in code:
        assert "from fastcourse.competitions import kaggle_data" in code
    again = run_inv("nb.patch", str(path), home=tmp_path)
    assert "unchanged" in again.stdout and (tmp_path / "nb.orig.ipynb").exists()


@pytest.mark.parametrize("source, var, name", [(SUBMIT_08, "FASTCOURSE_KAGGLE_SUBMIT", "api"),
                                               (PUSH_08, "FASTCOURSE_KAGGLE_PUSH", "push_notebook")])
def test_patched_account_actions_run_only_on_opt_in(tmp_path, monkeypatch, source, var, name):
    """Submitting and publishing cells should stay but run only when the learner opts in."""
    path = course_notebook(tmp_path / "nb.ipynb", source)
    assert run_inv("nb.patch", str(path), home=tmp_path).returncode == 0
    [code] = code_of(path)
    assert "iskaggle" not in code and f"{var}=1" in code
    calls = []

    class Api:
        def competition_submit_cli(self, *a):
            calls.append(a)

    import types
    fake_kaggle = types.ModuleType("kaggle")
    fake_kaggle.api = Api()  # stands in for the client: no submission may leave this machine
    monkeypatch.setitem(sys.modules, "kaggle", fake_kaggle)
    for value, expected in ((None, 0), ("0", 0), ("1", 1)):
        monkeypatch.delenv(var, raising=False) if value is None else monkeypatch.setenv(var, value)
        calls.clear()
        exec(compile(code, "cell", "exec"), {"comp": "c", "push_notebook": lambda *a, **k: calls.append(a)})
        assert len(calls) == expected, (value, calls)


def test_patched_competition_cell_without_credentials_is_one_line(tmp_path):
    """Run headless without Kaggle credentials, the patched data cell should fail with the one-line how-to."""
    path = course_notebook(tmp_path / "titanic.ipynb", TITANIC_05)
    assert run_inv("nb.patch", str(path), home=tmp_path).returncode == 0
    env = {"HOME": str(tmp_path), "KAGGLE_API_TOKEN": None, "KAGGLE_USERNAME": None, "KAGGLE_KEY": None,
           "KAGGLE_CONFIG_DIR": None}
    p = run_inv("nb.run", str(path), home=tmp_path, env=env, timeout=300)
    assert p.returncode == 1 and "KaggleError: no Kaggle credentials found" in p.stdout
    html = (tmp_path / "build/notebooks/titanic.html").read_text()
    assert "kaggle auth login" in html and "Authentication required" not in html


def test_patch_one_malformed_notebook_does_not_stop_the_rest(tmp_path):
    """A broken notebook should be named and skipped; the others in the folder are still patched."""
    course_notebook(tmp_path / "a.ipynb", SETUP_08)
    (tmp_path / "b.ipynb").write_text("{ not json")
    p = run_inv("nb.patch", str(tmp_path), home=tmp_path)
    assert p.returncode == 1 and "b.ipynb: SKIPPED" in p.stdout and "Traceback" not in p.stderr
    assert "kaggle_data(comp)" in code_of(tmp_path / "a.ipynb")[0]
    assert (tmp_path / "b.ipynb").read_text() == "{ not json"


def test_course_imports_resolve_here():
    """Every module the official course22 notebooks (00-10) import should import in this environment."""
    mods = ["fastai.basics", "fastai.data.transforms", "fastai.imports", "fastai.tabular.all", "fastai.vision.all",
            "fastcore.all", "fastcore.parallel", "fastdownload", "fastkaggle", "graphviz", "ipywidgets",
            "matplotlib.pyplot", "numpy", "pandas", "plotly.express", "seaborn", "sklearn.ensemble", "sklearn.metrics",
            "sklearn.model_selection", "sklearn.tree", "sympy", "torch", "torch.nn.functional", "timm", "ddgs",
            "fastai.vision.widgets"]
    code = "import importlib, sys\nfor m in sys.argv[1:]: importlib.import_module(m)\nprint('ok')"
    r = subprocess.run([sys.executable, "-c", code, *mods], capture_output=True, text=True, timeout=600,
                       env={**os.environ, "KAGGLE_USERNAME": "u", "KAGGLE_KEY": "k"})  # fastkaggle imports kaggle
    assert r.returncode == 0 and r.stdout.strip().endswith("ok"), r.stderr[-2000:]


def test_widgets_extension_is_installed_for_jupyterlab():
    """ImageClassifierCleaner needs ipywidgets' JupyterLab extension, which this environment should provide."""
    r = subprocess.run([sys.executable, "-m", "jupyter", "labextension", "list"], capture_output=True, text=True,
                       timeout=120)
    assert "@jupyter-widgets/jupyterlab-manager" in r.stdout + r.stderr and "enabled" in r.stdout + r.stderr


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


@contextlib.contextmanager
def serving(task: str, tmp_path: Path):
    """Run `inv TASK --port P` (nb.lab, nb.colab) until the block ends, then SIGTERM it; yields (port, log)."""
    port = free_port()
    env = {**os.environ, "JUPYTER_DATA_DIR": str(tmp_path / "jupyter"), "FASTCOURSE_HOME": str(tmp_path)}
    with open(tmp_path / f"{task}.log", "w+") as log:
        proc = subprocess.Popen([sys.executable, "-m", "invoke", "-r", str(REPO), task, "--port", str(port)],
                                env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
        try:
            wait_http(f"http://127.0.0.1:{port}/login", proc, timeout=120)
            yield port, log
        finally:
            proc.terminate()  # SIGTERM to the process `inv TASK` started as
            proc.wait(timeout=30)


def test_nb_lab_loopback_and_token(tmp_path):
    """nb.lab should listen on 127.0.0.1 only, refuse an unauthenticated API call (403), register the kernel,
    and free its port when it gets SIGTERM (no JupyterLab left behind)."""
    with serving("nb.lab", tmp_path) as (port, log):
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status", timeout=5)
        assert e.value.code == 403
        log.seek(0)
        url = next(l for l in log.read().splitlines() if "/lab?token=" in l).split()[-1]
        token = url.split("token=")[1]
        specs = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/api/kernelspecs?token={token}", timeout=5))
        assert specs["kernelspecs"]["fastcourse"]["spec"]["display_name"].endswith("(fastcourse)")
        assert listening_addresses(port) == {"0100007F"}  # 127.0.0.1, nothing on 0.0.0.0 or ::
    deadline = time.time() + 20
    while listening_addresses(port) and time.time() < deadline:
        time.sleep(0.2)
    assert not listening_addresses(port), "JupyterLab kept the port after inv nb.lab got SIGTERM"


def test_nb_colab_serves_colab_with_a_token(tmp_path):
    """nb.colab should print the URL to paste, answer Colab's origin (CORS) with the token, refuse without it."""
    with serving("nb.colab", tmp_path) as (port, log):
        log.seek(0)
        url = next(l for l in log.read().splitlines() if l.startswith(f"http://127.0.0.1:{port}/?token="))
        origin = "https://colab.research.google.com"
        req = urllib.request.Request(f"http://127.0.0.1:{port}/api/status?token={url.split('token=')[1]}",
                                     headers={"Origin": origin})
        with urllib.request.urlopen(req, timeout=5) as r:
            assert r.headers["Access-Control-Allow-Origin"] == origin
            assert r.headers["Access-Control-Allow-Credentials"] == "true"
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{port}/api/contents",
                                                          headers={"Origin": origin}), timeout=5)
        assert e.value.code == 403
        assert listening_addresses(port) == {"0100007F"}


@pytest.mark.slow
def test_image_classifier_cleaner_builds_its_widget(trained):
    """Lesson 2's ImageClassifierCleaner should build as a Jupyter widget here (ipywidgets installed)."""
    home, _ = trained
    code = ("import builtins, sys\nfrom IPython.display import display\nbuiltins.display = display  # as in a kernel\n"
            "from fastai.vision.all import *\nfrom fastai.vision.widgets import ImageClassifierCleaner\n"
            "from fastcourse.train import TrainConfig, make_dls\n"
            "dls = make_dls(TrainConfig(size=32), get_image_files(sys.argv[1])[:40])\n"
            "learn = vision_learner(dls, resnet18, pretrained=False)\n"
            "cleaner = ImageClassifierCleaner(learn)\n"
            "bundle = cleaner.widget._repr_mimebundle_()\n"
            "print('WIDGET', 'application/vnd.jupyter.widget-view+json' in bundle[0] if isinstance(bundle, tuple) "
            "else 'application/vnd.jupyter.widget-view+json' in bundle)\n")
    r = subprocess.run([sys.executable, "-c", code, str(home / "data/digits/images")], capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "WIDGET True" in r.stdout
