"""inv nb.run, nb.export, nb.course, nb.lab and nb.colab."""

import contextlib
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import nbformat
import pytest
from conftest import REPO, free_port, run_inv, wait_http
from helpers import fake_course22, hostile, ids
from nbformat.v4 import new_code_cell, new_notebook


def test_nb_run_takes_a_positional_path(tmp_path):
    """inv nb.run PATH should take PATH as the notebook, as users type it."""
    p = run_inv("nb.run", str(tmp_path / "x.ipynb"), home=tmp_path)
    assert p.returncode == 1 and p.stderr.strip() == f"no such notebook: {tmp_path / 'x.ipynb'} — see notebooks/"


def test_lab_port_out_of_range(tmp_path):
    """nb.lab --port 0 should be refused in one line before JupyterLab starts."""
    p = run_inv("nb.lab", "--port", "0", home=tmp_path, env={"JUPYTER_DATA_DIR": str(tmp_path / "j")})
    assert p.returncode == 1 and p.stderr.strip() == "--port 0 is out of range — use a value from 1 to 65535"


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
    """nb.export should write the #|export cells to app.py: the course's app, loading model.pkl (its labelling
    function defined beside it), which classifies an image."""
    home, _ = trained
    out = tmp_path / "app.py"
    p = run_inv("nb.export", str(REPO / "notebooks/02-production.ipynb"), "--to", str(out), home=home)
    assert p.returncode == 0, p.stderr
    code = out.read_text()
    assert "def classify_image" in code and "gr.Interface" in code and "load_learner" in code and "def is_three" in code
    image = sorted((home / "data/digits/images/3").glob("*.png"))[0]
    r = subprocess.run([sys.executable, "-c", f"import app; p = app.classify_image({str(image)!r}); "
                        "print(max(p, key=p.get), sorted(p))"],
                       cwd=tmp_path, env={**os.environ, "MODEL_PKL": str(home / "models/digits/model.pkl")},
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1] == "3 ['3', '7']"


def test_nb_course_offline_and_from_a_local_repo(tmp_path):
    """nb.course should fail in one line when the repo is unreachable, and clone + patch from a reachable one."""
    closed = f"http://127.0.0.1:{free_port()}/course22.git"  # forced offline: nothing listens there
    p = run_inv("nb.course", "--dest", "c22", "--repo", closed, home=tmp_path, timeout=300)
    assert p.returncode != 0 and "git could not get" in p.stderr and "inv nb.patch" in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1 and not (tmp_path / "c22").exists()
    upstream = fake_course22(tmp_path / "upstream")  # master only, as course22: a clone must not ask for main
    p = run_inv("nb.course", "--dest", "c22", "--repo", upstream, home=tmp_path)
    assert p.returncode == 0, p.stderr
    assert "(master) into" in p.stdout and "change(s)" in p.stdout
    nb = tmp_path / "c22/00-is-it-a-bird-creating-a-model-from-your-own-data.ipynb"
    assert "iskaggle" not in nb.read_text() and "iskaggle" not in (tmp_path / "c22/clean" / nb.name).read_text()
    again = run_inv("nb.course", "--dest", "c22", "--repo", upstream, home=tmp_path)
    assert again.returncode == 0 and "updated" in again.stdout and "stash list" in again.stdout
    stash = subprocess.run(["git", "-C", str(tmp_path / "c22"), "stash", "list"], capture_output=True, text=True)
    assert "before nb.course update" in stash.stdout  # earlier local changes kept, not dropped
    assert "iskaggle" not in nb.read_text()
    wrong = run_inv("nb.course", "--dest", "c23", "--repo", upstream, "--ref", "main", home=tmp_path)
    assert wrong.returncode == 1 and "git could not get" in wrong.stderr  # there is no main, as on GitHub


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
        deadline = time.time() + 30
        while "(Ctrl-C to stop" not in (text := open(log.name).read()) and time.time() < deadline:  # ours, not
            # Jupyter's own start-up lines (they hold /lab?token= too, and come first)
            time.sleep(0.2)
        lines = [l for l in text.splitlines() if l.strip()]
        at = next(i for i, l in enumerate(lines) if l.startswith("JupyterLab: http"))
        assert "Ctrl-C to stop" in lines[at + 1]  # the URL after the server's start-up log, not lost in it
        started = [i for i, l in enumerate(lines) if "is running at" in l]  # Jupyter's own start-up lines
        assert started and at > max(started)
        url = lines[at].split()[-1]
        token = url.split("token=")[1]
        specs = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/api/kernelspecs?token={token}", timeout=5))
        assert set(specs["kernelspecs"]) == {"fastcourse"} and specs["default"] == "fastcourse"  # one kernel
        assert specs["kernelspecs"]["fastcourse"]["spec"]["display_name"].endswith("(fastcourse)")
        assert listening_addresses(port) == {"0100007F"}  # 127.0.0.1, nothing on 0.0.0.0 or ::
    deadline = time.time() + 20
    while listening_addresses(port) and time.time() < deadline:
        time.sleep(0.2)
    assert not listening_addresses(port), "JupyterLab kept the port after inv nb.lab got SIGTERM"


def test_nb_colab_serves_colab_with_a_token(tmp_path):
    """nb.colab should print the URL to paste, answer Colab's origin (CORS) with the token, refuse without it."""
    with serving("nb.colab", tmp_path) as (port, log):
        deadline = time.time() + 30
        while "(Ctrl-C to stop" not in (text := open(log.name).read()) and time.time() < deadline:
            time.sleep(0.2)
        url = next(l for l in text.splitlines() if l.startswith(f"http://127.0.0.1:{port}/?token="))
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
            "from fastcourse.train.config import TrainConfig\nfrom fastcourse.train.vision import make_dls\n"
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


HOSTILE = [  # (args, env, the line it ends with, the folder it may change)
    (["nb.run", "nbs/broken.ipynb"], {}, "not a valid notebook", "build/notebooks"),
    (["nb.run", "-p", "novalue"], {}, "is not key=value", None),
    (["nb.run", "nbs/none.ipynb"], {}, "no such notebook: nbs/none.ipynb", None),
    (["nb.run", "--timeout", "0"], {}, "--timeout 0 is out of range", None),
    (["nb.lab", "--port", "0"], {}, "--port 0 is out of range", None),
    (["nb.course", "--dest", "course22", "--repo", "/nowhere/course22.git"], {}, "or download "
     "https://github.com/fastai/course22/archive/refs/heads/master.zip", None),
]


@pytest.mark.parametrize("args, env, message, owns", HOSTILE, ids=ids(HOSTILE))
def test_hostile_nb(tmp_path, args, env, message, owns):
    """inv nb.* with bad input should end in one line and change nothing outside its folder."""
    hostile(tmp_path, args, env, message, owns)


def test_a_cell_that_never_ends_is_stopped_by_the_timeout(tmp_path):
    """`while True` in a cell should be stopped after --timeout seconds and reported as that cell's failure."""
    nb = tmp_path / "loop.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1"), nbformat.v4.new_code_cell(
        "import time\nwhile True:\n    time.sleep(0.1)")]), nb)
    p = run_inv("nb.run", str(nb), "--timeout", "3", home=tmp_path, timeout=120)
    assert p.returncode == 1 and "Traceback" not in p.stdout + p.stderr, p.stderr[-2000:]
    assert "loop.ipynb failed at cell 1: ran over --timeout 3 s" in p.stderr
    assert "without encryption" not in p.stderr


def test_nb_run_runs_each_notebook_in_its_own_folder(tmp_path):
    """A notebook's relative paths should resolve against its own folder, and the project stays FASTCOURSE_HOME."""
    (tmp_path / "course/data").mkdir(parents=True)
    (tmp_path / "course/data/note.txt").write_text("beside the notebook")
    nb = tmp_path / "course/read.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "import os\nfrom pathlib import Path\nassert Path('data/note.txt').read_text() == 'beside the notebook'\n"
        f"assert os.environ['FASTCOURSE_HOME'] == {str(tmp_path)!r}")]), nb)
    p = run_inv("nb.run", str(nb), home=tmp_path, timeout=120)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    assert (tmp_path / "build/notebooks/read.ipynb").exists()


def test_ctrl_c_during_a_notebook_names_the_cell(tmp_path):
    """Ctrl-C while a cell runs should end in one line naming that cell, with no traceback."""
    import signal

    nb = tmp_path / "slow.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1"), nbformat.v4.new_code_cell(
        "import time\nprint('started', flush=True)\ntime.sleep(60)")]), nb)
    env = {**os.environ, "FASTCOURSE_HOME": str(tmp_path), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "invoke", "-r", str(REPO), "nb.run", str(nb)], cwd=tmp_path,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    executed = tmp_path / "build/notebooks/slow.ipynb"
    deadline = time.time() + 90
    while time.time() < deadline and not (executed.exists() and '"running"' in executed.read_text()):
        time.sleep(0.3)
    os.killpg(proc.pid, signal.SIGINT)  # as Ctrl-C in a terminal: the whole process group
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1 and "Traceback" not in out + err, err[-2000:]
    assert "interrupted in slow.ipynb at cell 1" in err


@pytest.mark.slow
def test_smoke_run_never_touches_the_learners_model(trained, tmp_path):
    """nb.run --smoke should run in a scratch project: the learner's models/ and data/ stay byte-identical."""
    import shutil

    from helpers import snapshot

    home = tmp_path / "home"
    shutil.copytree(trained[0], home, symlinks=True)
    before = {k: v for k, v in snapshot(home).items() if k.startswith(("models/", "data/"))}
    p = run_inv("nb.run", "--smoke", home=home, timeout=900)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    assert "smoke mode: a scratch project in" in p.stdout
    assert {k: v for k, v in snapshot(home).items() if k.startswith(("models/", "data/"))} == before
    assert (home / "build/notebooks/01-is-it-a-bird.ipynb").exists()


@pytest.mark.parametrize("name, code", [
    ("01-is-it-a-bird.ipynb", ["DataBlock(", "vision_learner(", "fine_tune(", "ClassificationInterpretation",
                               "learn.export(", "ImageClassifierCleaner"]),
    ("02-production.ipynb", ["def is_three", "learn.export(", "load_learner(", "gr.Interface(", "--code labels.py"]),
])
def test_our_notebooks_teach_the_courses_code(name, code):
    """Our lesson notebooks should show the course's own calls (they run in smoke mode in CI, end to end)."""
    nb = nbformat.read(REPO / "notebooks" / name, as_version=4)
    text = "\n".join(c.source for c in nb.cells)
    assert all(c in text for c in code), [c for c in code if c not in text]
    assert nb.metadata["kernelspec"]["name"] == "fastcourse"


def test_the_html_copy_of_a_plotly_notebook_prints_no_warning(tmp_path):
    """render_html should write the page without nbconvert's warning for outputs it has no HTML for (plotly)."""
    import warnings

    from fastcourse.nb.run import render_html

    nb = tmp_path / "plot.ipynb"
    cell = nbformat.v4.new_code_cell("fig.show()", outputs=[nbformat.v4.new_output(
        "display_data", data={"application/vnd.plotly.v1+json": {"data": [], "layout": {}}})])
    nbformat.write(nbformat.v4.new_notebook(cells=[cell]), nb)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        html = render_html(nb)
    assert html == tmp_path / "plot.html" and "show" in html.read_text() and "jp-OutputArea" in html.read_text()
