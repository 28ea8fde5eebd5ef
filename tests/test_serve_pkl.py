"""A notebook's model.pkl served and deployed: converted in a child process into the portable folder inv train
writes, agreeing with fastai's own predictions; every way a pickle can be wrong ends in one line."""

import json
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import run_inv
from helpers import repickle

MAKE = """
import pickle, sys, warnings
warnings.simplefilter("ignore")
from fastai.vision.all import *

def is_three(p): return p.parent.name == "3"   # the labelling function, in __main__, as notebook 02's is_cat

path = Path(sys.argv[1])
dls = ImageDataLoaders.from_path_func(path, get_image_files(path), label_func=is_three, valid_pct=0.2, seed=42,
                                      item_tfms=Resize(32, method="pad"), bs=32)
learn = vision_learner(dls, resnet18, metrics=error_rate, pretrained=False)
with learn.no_bar(), learn.no_logging():
    learn.fit_one_cycle(2, 1e-2)
learn.export(sys.argv[2] + "/cloud.pkl")                        # fastai 2.8: cloudpickle, the function by value
learn.export(sys.argv[2] + "/model.pkl", pickle_module=pickle)  # as fastai < 2.8 did: the function by name
"""
LABELS = "def is_three(p): return p.parent.name == '3'\n"


@pytest.fixture(scope="module")
def notebook_models(tmp_path_factory):
    """Two exports of one learner trained by a script whose labelling function lives in __main__."""
    from fastcourse.data import embedded

    home = tmp_path_factory.mktemp("pkl")
    embedded.write_digits(home)
    (home / "nb").mkdir()
    r = subprocess.run([sys.executable, "-c", MAKE, str(home / "data/digits/images"), str(home / "nb")],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    (home / "labels.py").write_text(LABELS)
    return home


@pytest.mark.slow
def test_a_main_function_is_named_with_the_fix(notebook_models):
    """Without --code, a pickle needing a notebook's function should end in one line naming it and --code."""
    p = run_inv("app.bundle", "--model", "nb/model.pkl", home=notebook_models)
    assert p.returncode == 1 and "Traceback" not in p.stderr, p.stderr[-2000:]
    assert "needs the function is_three" in p.stderr and "--code labels.py" in p.stderr
    assert "a pickle runs the code it holds — load only models you made or trust" in p.stdout


@pytest.mark.slow
def test_a_notebook_model_serves_and_deploys_with_its_code(notebook_models):
    """With --code, the pickle should bundle, answer from a clean virtualenv, and pass deploy's dry run."""
    home = notebook_models
    before = (home / "nb/model.pkl").read_bytes()
    p = run_inv("deploy", "--space", "me/threes", "--model", "nb/model.pkl", "--code", "labels.py", "--dry-run",
                home=home, timeout=1200)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    assert ("-> True" in p.stdout or "-> False" in p.stdout) and "dry run: bundle" in p.stdout
    assert (home / "nb/model.pkl").read_bytes() == before  # the learner's file is never changed
    card = (home / "build/space/threes/README.md").read_text()
    assert "An image classifier" in card and "classes: False, True" in card and "fastai " in card


@pytest.mark.slow
def test_the_converted_model_agrees_with_fastai(notebook_models):
    """The portable model should give load_learner's labels on every image, probabilities within 1e-4."""
    from fastcourse.images import open_image
    from fastcourse.predict import load
    from fastcourse.train.convert import convert

    home = notebook_models
    folder = convert(home / "nb/cloud.pkl", home, log=lambda *_: None)  # cloudpickle: no --code needed
    images = sorted((home / "data/digits/images").rglob("*.png"))
    code = ("import sys, json, warnings\nwarnings.simplefilter('ignore')\nfrom fastai.learner import load_learner\n"
            "learn = load_learner(sys.argv[1])\nprint(json.dumps([learn.predict(f)[2].tolist() for f in sys.argv[2:]]))")
    r = subprocess.run([sys.executable, "-c", code, str(home / "nb/cloud.pkl"), *map(str, images)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    fastai_probs = np.array(json.loads(r.stdout.strip().splitlines()[-1]))
    ours = load(folder).probs([open_image(f) for f in images])
    assert (fastai_probs.argmax(1) == ours.argmax(1)).all()
    assert np.abs(fastai_probs - ours).max() < 1e-4


def _torch_dict(path: Path) -> Path:
    import torch

    torch.save({"weights": [1, 2, 3]}, path)
    return path


@pytest.mark.slow
@pytest.mark.parametrize("make, message", [
    (lambda h: repickle(h / "nb/model.pkl", h / "old.pkl", {"fastai.learner": "fastcore.transform"}) or "old.pkl",
     "was made with another fastai or torch version"),
    (lambda h: (h / "cut.pkl").write_bytes((h / "nb/cloud.pkl").read_bytes()[:50_000]) and "cut.pkl",
     "is not a complete fastai export"),
    (lambda h: _torch_dict(h / "dict.pkl").name, "holds a dict, not a fastai Learner"),
    (lambda h: (h / "text.pkl").write_text("not a pickle") and "text.pkl", "is not a complete fastai export"),
    (lambda h: "nowhere.pkl", "nowhere.pkl: no such file"),
], ids=["other-version", "truncated", "not-fastai", "not-a-pickle", "missing"])
def test_a_bad_pickle_is_one_line(notebook_models, make, message):
    """Another version's pickle, a truncated one, a non-fastai one: one line each, saying what to do."""
    name = make(notebook_models)
    p = run_inv("predict", "x.png", "--model", name, home=notebook_models, timeout=600)
    assert p.returncode == 1 and "Traceback" not in p.stderr, p.stderr[-2000:]
    assert message in p.stderr.strip().splitlines()[-1]


@pytest.mark.slow
def test_a_pickle_that_never_finishes_loading_is_stopped(tmp_path):
    """Loading runs in a child process with a deadline: a pickle that hangs is stopped, in one line."""
    class Hang:
        def __reduce__(self):
            return (__import__("time").sleep, (600,))

    (tmp_path / "hang.pkl").write_bytes(pickle.dumps(Hang()))
    p = run_inv("predict", "x.png", "--model", "hang.pkl", home=tmp_path, env={"FASTCOURSE_CONVERT_TIMEOUT": "5"},
                timeout=120)
    assert p.returncode == 1 and "took over 5 s and was stopped" in p.stderr
