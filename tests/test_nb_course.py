"""The official course here: inv nb.course against a fake upstream shaped like course22, each drift rule
(a notebook that fails on the pinned stack before the rule and runs after it), and inv nb.course --check."""

from http.server import BaseHTTPRequestHandler

import nbformat
import pytest
from conftest import run_inv
from helpers import changed_outside, snapshot
from localserver import LocalServer
from nbformat.v4 import new_code_cell, new_notebook


def notebook(path, *sources):
    """A notebook of code cells, written where nb.patch and nb.run will find it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(new_notebook(cells=[new_code_cell(s) for s in sources]), path)
    return path


def before_and_after(tmp_path, name, sources, env=None):
    """(run before nb.patch, patch, run after): the drift rule's notebook should fail, then run."""
    nb = notebook(tmp_path / "course" / name, *sources)
    before = run_inv("nb.run", str(nb), home=tmp_path, env=env, timeout=300)
    patched = run_inv("nb.patch", str(nb), home=tmp_path, timeout=120)
    after = run_inv("nb.run", str(nb), home=tmp_path, env=env, timeout=300)
    return before, patched, after


DRIFT = {  # rule -> (notebook name, cells): each fails on the pinned stack as course22 wrote it
    "get_dummies_float": ("05-t.ipynb", [
        "import pandas as pd, torch\ndf = pd.DataFrame({'Age': [22.0, 38.0], 'Sex': ['male', 'female']})\n"
        "df = pd.get_dummies(df, columns=['Sex'])",
        "t = torch.tensor(df[['Age', 'Sex_male', 'Sex_female']].values, dtype=torch.float)\nassert t.shape == (2, 3)"]),
    "sympy_expression": ("05-s.ipynb", ["import sympy\nsympy.plot(\"1/(1+exp(-x))\", xlim=(-5,5));"]),
    "timm_nhwc": ("10-s.ipynb", [
        "from fastai.vision.all import *\nfrom fastai.vision.learner import create_timm_model",
        "for arch in ('swin_tiny_patch4_window7_224', 'swinv2_tiny_window8_256'):  # both swin families\n"
        "    m, cfg = create_timm_model(arch, 2, pretrained=False)\n"
        "    assert m.eval()(torch.zeros(1, 3, *cfg['input_size'][1:])).shape == (1, 2)"]),
    "kaggle_user": ("08-first-steps.ipynb", [
        "pushed = []\ndef push_notebook(user, id, title, file, **kw): pushed.append((user, file))",
        "push_notebook('jhoward', 'first-steps', title='T', file='first-steps-road-to-the-top-part-1.ipynb')",
        "import os\nassert pushed == [(os.environ['KAGGLE_USERNAME'], '08-first-steps.ipynb')], pushed"]),
}


@pytest.mark.slow
@pytest.mark.parametrize("rule", DRIFT)
def test_drift_rule_makes_the_failing_pattern_run(tmp_path, rule):
    """A notebook with the pattern course22 uses should fail on the pinned stack, and run once patched."""
    name, cells = DRIFT[rule]
    before, patched, after = before_and_after(tmp_path, name, cells, env={"KAGGLE_USERNAME": "learner"})
    assert before.returncode == 1, before.stdout[-1500:]
    assert patched.returncode == 0 and f"{rule}:" in patched.stdout, patched.stdout + patched.stderr
    assert after.returncode == 0, after.stdout[-2000:] + after.stderr[-2000:]
    again = run_inv("nb.patch", str(tmp_path / "course" / name), home=tmp_path)
    assert "unchanged" in again.stdout  # idempotent


@pytest.mark.slow
def test_drift_rule_timm_results_reads_the_csvs_by_commit(tmp_path):
    """Lesson 3's clone of pytorch-image-models should become its CSVs by commit, from where the kit is told."""
    from fastcourse.nb import standins

    csvs = standins.timm_results()

    class Files(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_GET(self):
            data = csvs.get(self.path.rsplit("/", 1)[-1], b"")
            self.send_response(200 if data else 404)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    cells = ["! git clone --depth 1 https://github.com/rwightman/pytorch-image-models.git\n"
             "%cd pytorch-image-models/results",
             "import pandas as pd\ndf_results = pd.read_csv('results-imagenet.csv')\n"
             "df = pd.read_csv('benchmark-infer-amp-nhwc-pt111-cu113-rtx3090.csv').merge(df_results, on='model')\n"
             "assert len(df) > 10"]
    with LocalServer(Files) as server:
        env = {"FASTCOURSE_TIMM_RESULTS_URL": f"{server.base}/timm", "XDG_CACHE_HOME": str(tmp_path / "cache"),
               "GIT_ALLOW_PROTOCOL": "file"}  # the unpatched clone cannot reach GitHub from here or anywhere
        before, patched, after = before_and_after(tmp_path, "03-w.ipynb", cells, env)
    assert before.returncode == 1 and patched.returncode == 0 and "timm_results:" in patched.stdout
    assert after.returncode == 0, after.stdout[-2000:] + after.stderr[-2000:]
    assert not (tmp_path / "course/pytorch-image-models").exists()


FAKE_COURSE = {  # name -> cells: what each kind of course22 notebook reaches online, as course22 writes it
    "00-is-it-a-bird.ipynb": [
        "import socket,warnings\ntry:\n    socket.setdefaulttimeout(1)\n"
        "    socket.socket(socket.AF_INET, socket.SOCK_STREAM).connect(('1.1.1.1', 53))\n"
        "except socket.error as ex: raise Exception(\"STOP: No internet.\")",
        "from duckduckgo_search import DDGS\nfrom fastcore.all import *\n"
        "def search_images(keywords, max_images=200): return L(DDGS().images(keywords, max_results=max_images)).itemgot('image')",
        "from fastai.vision.all import *\nfrom time import sleep\npath = Path('bird_or_not')\n"
        "for o in 'forest','bird':\n    dest = (path/o)\n    dest.mkdir(exist_ok=True, parents=True)\n"
        "    download_images(dest, urls=search_images(f'{o} photo'))\n    sleep(10)\n"
        "    resize_images(path/o, max_size=400, dest=path/o)",
        "dls = DataBlock(blocks=(ImageBlock, CategoryBlock), get_items=get_image_files,\n"
        "    splitter=RandomSplitter(valid_pct=0.2, seed=42), get_y=parent_label,\n"
        "    item_tfms=[Resize(192, method='squish')]).dataloaders(path)\n"
        "learn = vision_learner(dls, resnet18, metrics=error_rate)\nlearn.fine_tune(3)",
        "import urllib.request\ntry:\n    urllib.request.urlopen('http://93.184.216.34/', timeout=5)\n"
        "    raise AssertionError('reached the internet')\nexcept OSError as e:\n"
        "    assert 'no requests off 127.0.0.1' in str(e), e"],
    "02-saving-a-basic-fastai-model.ipynb": [
        "from fastai.vision.all import *\npath = untar_data(URLs.PETS)/'images'\ndef is_cat(x): return x[0].isupper()",
        "dls = ImageDataLoaders.from_name_func('.', get_image_files(path), valid_pct=0.2, seed=42,\n"
        "    label_func=is_cat, item_tfms=Resize(192))\nlearn = vision_learner(dls, resnet18, metrics=error_rate)\n"
        "learn.fine_tune(3)\nlearn.export('model.pkl')"],
    "05-linear-model.ipynb": [
        "import os\nfrom pathlib import Path\niskaggle = os.environ.get('KAGGLE_KERNEL_RUN_TYPE', '')\n"
        "if iskaggle: path = Path('../input/titanic')\nelse:\n    path = Path('titanic')\n"
        "    if not path.exists():\n        import zipfile,kaggle\n        kaggle.api.competition_download_cli(str(path))\n"
        "        zipfile.ZipFile(f'{path}.zip').extractall(path)",
        "import pandas as pd, torch\ndf = pd.read_csv(path/'train.csv')\n"
        "df = pd.get_dummies(df, columns=['Sex','Pclass','Embarked'])\n"
        "t = torch.tensor(df[['Age', 'Sex_male', 'Pclass_1']].fillna(0).values, dtype=torch.float)"],
    "08-road-to-the-top.ipynb": [
        "try: import fastkaggle\nexcept ModuleNotFoundError:\n    !pip install -Uq fastkaggle\n\nfrom fastkaggle import *",
        "comp = 'paddy-disease-classification'\npath = setup_comp(comp, install='fastai \"timm>=0.6.2.dev0\"')",
        "from fastai.vision.all import *\nset_seed(42)\ntrn_path = path/'train_images'\n"
        "dls = ImageDataLoaders.from_folder(trn_path, valid_pct=0.2, seed=42, item_tfms=Resize(480, method='squish'),\n"
        "    batch_tfms=aug_transforms(size=224, min_scale=0.75))\n"
        "learn = vision_learner(dls, 'swin_large_patch4_window7_224', metrics=error_rate).to_fp16()\n"
        "learn.fine_tune(3, 0.01)",
        "if not iskaggle:\n    from kaggle import api\n    api.competition_submit_cli('subm.csv', 'initial', comp)"],
}


@pytest.mark.slow
def test_course_check_runs_every_kind_of_notebook_on_stand_ins(tmp_path):
    """inv nb.course --check should run notebooks that search, download PETS, read Kaggle competitions and
    load timm weights to their last cell — changing nothing in the learner's home or project, reaching
    nothing off 127.0.0.1, submitting nothing."""
    course = tmp_path / "course22"
    for name, cells in FAKE_COURSE.items():
        notebook(course / name, *cells)
    learner = tmp_path / "learner-home"
    (learner / ".kaggle").mkdir(parents=True)
    (learner / ".kaggle/kaggle.json").write_text('{"username": "me", "key": "secret"}')
    before = snapshot(tmp_path)
    p = run_inv("nb.course", "--check", "--from", str(course), home=tmp_path, timeout=1500,
                env={"HOME": str(learner), "FASTCOURSE_KAGGLE_SUBMIT": "1"})
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    assert f"{len(FAKE_COURSE)}/{len(FAKE_COURSE)} notebooks ran to their last cell" in p.stdout
    for name, cells in FAKE_COURSE.items():
        assert f"{name[:2]}  " in p.stdout and f"{len(cells)}/{len(cells)}" in p.stdout
    assert changed_outside(before, snapshot(tmp_path), "build/course-check") == set()


def test_course_check_without_a_copy_says_where_to_get_one(tmp_path):
    """--check with no course22 copy should say how to get one, in one line."""
    p = run_inv("nb.course", "--check", home=tmp_path)
    assert p.returncode == 1 and "fetch them with inv nb.course, or pass --from PATH" in p.stderr


@pytest.mark.network
def test_the_real_course_clones_and_patches(tmp_path):
    """inv nb.course should clone fastai/course22 from GitHub (its default branch) and patch it (online only)."""
    import socket

    try:
        socket.create_connection(("github.com", 443), timeout=3).close()
    except OSError:
        pytest.skip("github.com is not reachable from here: this test runs in the online GitHub workflow")
    p = run_inv("nb.course", home=tmp_path, timeout=900)
    assert p.returncode == 0, p.stderr[-2000:]
    assert "(master)" in p.stdout and (tmp_path / "course22/05-linear-model-and-neural-net-from-scratch.ipynb").exists()


@pytest.mark.parametrize("only, picked", [
    ("", ["00", "03", "10"]), ("3", ["03"]), ("03,10", ["03", "10"]), (" 0 , 10 ", ["00", "10"]),
    ("99", None), ("3a", None), ("04", None), ("01-jupyter", None),
])
def test_only_picks_notebooks_by_number(tmp_path, only, picked):
    """--only should take 3 or 03 and refuse a number the copy does not have, naming the ones it has."""
    from fastcourse.errors import OptionError
    from fastcourse.nb.check import select

    nbs = [notebook(tmp_path / f"{n}-x.ipynb", "1") for n in ("00", "03", "10")]
    if picked is None:
        with pytest.raises(OptionError, match=r"not a notebook number of this copy — use 00, 03, 10"):
            select(nbs, only)
    else:
        assert [p.name[:2] for p in select(nbs, only)] == picked


def test_only_with_a_wrong_number_ends_in_one_line(tmp_path):
    """inv nb.course --check --only 99 should exit 1 with one line before any notebook runs (it ran none, ok)."""
    for n in ("00", "05"):
        notebook(tmp_path / "course22" / f"{n}-x.ipynb", "1")
    p = run_inv("nb.course", "--check", "--only", "99", home=tmp_path)
    assert p.returncode == 1 and "Traceback" not in p.stderr
    assert p.stderr.strip().splitlines()[-1].startswith("--only 99: not a notebook number of this copy — use 00, 05")
    assert not (tmp_path / "build/course-check").exists()
