"""inv train --task tabular|collab|segment, offline and through a local stand-in for fastai's dataset host."""

import io
import subprocess
import sys
import json
import tarfile
from http.server import SimpleHTTPRequestHandler
from pathlib import Path

import numpy as np
import pytest
from conftest import closed_port_url, offline_env, run_inv
from helpers import hostile, ids, repickle
from localserver import LocalServer
from PIL import Image

TASK_ARTIFACTS = ("model.pkl", "model.onnx", "model.json", "config.json", "metrics.json", "plot.png", "loss.png",
                  "report.html")


@pytest.fixture(scope="module")
def trained_tasks(tmp_path_factory):
    """Each task trained with no other option, forced offline, in one project folder."""
    home = tmp_path_factory.mktemp("apps")
    env = offline_env(tmp_path_factory.mktemp("torch"))
    runs = {task: run_inv("train", "--task", task, home=home, env=env, timeout=900)
            for task in ("tabular", "collab", "segment")}
    return home, runs


EXAMPLE = {"tabular": "rows.csv", "collab": "USER,ITEM", "segment": "photo.jpg"}  # what predict takes per task


@pytest.mark.slow
@pytest.mark.parametrize("task, key, good", [("tabular", "accuracy", lambda v: v >= 0.9),
                                             ("collab", "valid_mse", lambda v: v <= 0.25 * 1.2),
                                             ("segment", "pixel_accuracy", lambda v: v >= 0.9)])
def test_each_task_trains_offline_with_the_same_artifacts(trained_tasks, task, key, good):
    """inv train --task T should train on its embedded data, offline, and write vision's set of artifacts."""
    home, runs = trained_tasks
    p = runs[task]
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    out = home / "models" / task
    for name in TASK_ARTIFACTS:
        assert (out / name).stat().st_size > 0, name
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["task"] == task and good(metrics[key]), metrics
    assert json.loads((out / "config.json").read_text())["task"] == task
    tail = p.stdout[p.stdout.index("report: "):].splitlines()  # the summary ends with the report and what next
    assert tail[:2] == [f"report: {out / 'report.html'}  (open it in a browser)", "next:"]
    assert [line.split("#")[0].split() for line in tail[2:4]] == [
        ["inv", "predict", EXAMPLE[task], "--model", f"models/{task}"], ["inv", "app", "--model", f"models/{task}"]]
    with Image.open(out / "plot.png") as im:
        assert im.width > 200 and im.height > 200


@pytest.mark.slow
def test_tabular_predict_csv_in_csv_out(trained_tasks, tmp_path):
    """predict with a tabular model: a CSV of rows in, the rows with a prediction and probability out."""
    import pandas as pd

    home, _ = trained_tasks
    rows = pd.read_csv(home / "data/penguins/penguins.csv").head(12).drop(columns=["species"])
    rows.to_csv(tmp_path / "new.csv", index=False)
    p = run_inv("predict", str(tmp_path / "new.csv"), "--model", "models/tabular", "--out", str(tmp_path / "p.csv"),
                home=home)
    assert p.returncode == 0, p.stderr[-2000:]
    out = pd.read_csv(tmp_path / "p.csv")
    assert len(out) == 12 and set(out.prediction) <= {"Adelie", "Chinstrap", "Gentoo"}
    assert (out.probability > 0).all() and (out.probability <= 1).all()


@pytest.mark.slow
def test_collab_predict_pairs(trained_tasks, tmp_path):
    """predict with a collab model: user,item pairs in, a rating each out, close to the generated truth."""
    import pandas as pd

    home, _ = trained_tasks
    truth = pd.read_csv(home / "data/ratings/ratings.csv").head(200)
    truth[["user", "item"]].to_csv(tmp_path / "pairs.csv", index=False)
    p = run_inv("predict", str(tmp_path / "pairs.csv"), "--model", "models/collab", home=home)
    assert p.returncode == 0, p.stderr[-2000:]
    out = pd.read_csv(io.StringIO(p.stdout))
    assert list(out.columns) == ["user", "item", "rating"] and len(out) == 200
    assert float(((out.rating - truth.rating) ** 2).mean()) < 0.5


@pytest.mark.slow
def test_segment_predict_writes_masks(trained_tasks, tmp_path):
    """predict with a segmentation model: images in, one mask PNG of class indices each out."""
    home, _ = trained_tasks
    images = sorted((home / "data/shapes/images").glob("*.png"))[:3]
    p = run_inv("predict", str(images[0]), "--model", "models/segment", "--out", str(tmp_path), "--",
                *map(str, images[1:]), home=home)
    assert p.returncode == 0, p.stderr[-2000:]
    for img in images:
        mask = np.asarray(Image.open(tmp_path / f"{img.stem}_mask.png"))
        truth = np.asarray(Image.open(home / "data/shapes/labels" / f"{img.stem}_P.png"))
        assert mask.shape == truth.shape and (mask == truth).mean() > 0.8


def _tgz(root: Path, name: str, files: dict) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for rel, data in files.items():
            info = tarfile.TarInfo(f"{name}/{rel}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    (root / f"{name}.tgz").write_bytes(buf.getvalue())


def _png(arr) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "PNG")
    return buf.getvalue()


def course_mirror(root: Path) -> Path:
    """Small stand-ins for fastai's adult_sample, movie_lens_sample and camvid_tiny, in their layouts."""
    rng = np.random.default_rng(0)
    cols = "age,workclass,fnlwgt,education,education-num,marital-status,occupation,relationship,race,sex,salary\n"
    rows = "".join(f"{20 + i % 50},Private,{1000 + i},Bachelors,{9 + i % 5},Never-married,Sales,Husband,White,"
                   f"Male,{'>=50k' if i % 3 else '<50k'}\n" for i in range(120))
    _tgz(root, "adult_sample", {"adult.csv": (cols + rows).encode()})
    ratings = "userId,movieId,rating,timestamp\n" + "".join(
        f"{u},{m},{(u * m) % 5 + 1}.0,0\n" for u in range(30) for m in range(20))
    _tgz(root, "movie_lens_sample", {"ratings.csv": ratings.encode()})
    files = {"codes.txt": b"Void\nRoad\n"}
    for i in range(10):
        mask = (rng.random((32, 32)) > 0.5).astype(np.uint8)
        files[f"images/f{i}.png"] = _png((mask[..., None] * 200 + 20).repeat(3, 2).astype(np.uint8))
        files[f"labels/f{i}_P.png"] = _png(mask)
    _tgz(root, "camvid_tiny", files)
    return root


@pytest.mark.slow
@pytest.mark.parametrize("task, name", [("tabular", "adult"), ("collab", "movielens"), ("segment", "camvid")])
def test_course_datasets_through_untar_data(tmp_path, task, name):
    """--data adult|movielens|camvid should go through fastai's untar_data (here from a local mirror)."""
    (tmp_path / "mirror").mkdir()
    (tmp_path / "home").mkdir()
    mirror = course_mirror(tmp_path / "mirror")

    class Handler(SimpleHTTPRequestHandler):
        def __init__(self, *a, **k):
            super().__init__(*a, directory=str(mirror), **k)

        def log_message(self, *a):
            pass

    env = {**offline_env(tmp_path / "torch"), "FASTAI_HOME": str(tmp_path / "fastai"), "NO_PROXY": "127.0.0.1",
           "no_proxy": "127.0.0.1"}
    with LocalServer(Handler) as server:
        env["FASTCOURSE_DATA_MIRROR"] = server.base
        p = run_inv("train", "--task", task, "--data", name, "--epochs", "1", home=tmp_path / "home",
                    env=env, timeout=600)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    config = json.loads((tmp_path / "home/models" / name / "config.json").read_text())  # named after its data
    assert config["data"].startswith(str(tmp_path / "fastai"))


@pytest.mark.slow
def test_course_dataset_offline_is_one_line(tmp_path):
    """With the dataset host unreachable, --data adult should fail in one line pointing at the offline default."""
    env = {"FASTCOURSE_DATA_MIRROR": closed_port_url(), "FASTAI_HOME": str(tmp_path / "fastai")}
    p = run_inv("train", "--task", "tabular", "--data", "adult", home=tmp_path, env=env)
    assert p.returncode == 1 and "Traceback" not in p.stderr
    assert p.stderr.strip().startswith("--data adult: could not download") and "inv train --task tabular" in p.stderr
    wrong = run_inv("train", "--task", "collab", "--data", "adult", home=tmp_path)
    assert wrong.returncode == 1 and "use it with --task tabular" in wrong.stderr


@pytest.mark.slow
def test_a_segmentation_model_of_the_old_layout_still_loads(trained_tasks, tmp_path):
    """A model.pkl pickled before the package layout (label function fastcourse.segment.label_of) should load."""
    home, _ = trained_tasks
    old = tmp_path / "model.pkl"
    repickle(home / "models/segment/model.pkl", old, {"fastcourse.data.folders": "fastcourse.segment",
                                                      "camvid_label": "label_of"})
    assert b"fastcourse.segment" in old.read_bytes().replace(b"\n", b"")
    image = sorted((home / "data/shapes/images").glob("*.png"))[0]
    code = ("import sys\nfrom fastai.learner import load_learner\nlearn = load_learner(sys.argv[1])\n"
            "print('MASK', tuple(learn.predict(sys.argv[2])[0].shape))")
    r = subprocess.run([sys.executable, "-c", code, str(old), str(image)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "MASK (40, 40)" in r.stdout


HOSTILE = [  # (args, env, the line it ends with, the folder it may change)
    (["train", "--task", "tabular", "--data", "tables/header.csv"], {}, "0 row(s) with a species value", "models"),
    (["train", "--task", "tabular", "--data", "tables/few.csv"], {}, "5 row(s) with a species value", "models"),
    (["train", "--task", "tabular", "--data", "tables/text.csv"], {}, "column body_mass_g holds text ('heavy' on row 3)",
     "models"),
    (["train", "--task", "tabular", "--data", "tables/nocol.csv"], {}, "lacks the column(s) body_mass_g", "models"),
    (["train", "--task", "tabular", "--data", "tables/utf16.csv"], {}, "is UTF-16 text — save it as UTF-8", "models"),
    (["train", "--task", "tabular", "--data", "inputs/bomb.png"], {}, "is not UTF-8 text", "models"),
    (["train", "--task", "collab", "--data", "tables/ratings.csv"], {}, "rating on row 2 is 'x0'", "models"),
    (["train", "--task", "collab", "--data", "tables/noitem.csv"], {}, "needs the column(s) item", "models"),
    (["train", "--task", "segment", "--data", "few"], {}, "needs images/, labels/ and codes.txt", "models"),
    (["train", "--task", "segment", "--arch", "vit_b_16x"], {}, "segmentation takes a torchvision encoder", None),
    (["train", "--task", "collab", "--data", "adult"], {}, "use it with --task tabular", None),
]


@pytest.mark.parametrize("args, env, message, owns", HOSTILE, ids=ids(HOSTILE))
def test_hostile_other_tasks(tmp_path, args, env, message, owns):
    """inv train --task T with a bad CSV or folder should end in one line per problem, before training."""
    hostile(tmp_path, args, env, message, owns)


FASTAI_PREDS = {  # task -> how fastai itself predicts, in a fresh process from model.pkl (argv: pkl, data)
    "tabular": "import pandas as pd\nrows = pd.read_csv(sys.argv[2])\n"
               "preds, _ = learn.get_preds(dl=learn.dls.test_dl(rows))\nout = preds.tolist()",
    "collab": "import pandas as pd\nrows = pd.read_csv(sys.argv[2])[['user', 'item']].head(500)\n"
              "preds, _ = learn.get_preds(dl=learn.dls.test_dl(rows))\nout = preds.view(-1).tolist()",
    "segment": "from pathlib import Path\nfiles = sorted(Path(sys.argv[2]).glob('*.png'))[:10]\n"
               "preds, _ = learn.get_preds(dl=learn.dls.test_dl(files))\nout = preds.tolist()",
}


@pytest.mark.slow
@pytest.mark.parametrize("task, data", [("tabular", "data/penguins/penguins.csv"), ("collab", "data/ratings/ratings.csv"),
                                        ("segment", "data/shapes/images")])
def test_the_portable_model_agrees_with_fastai(trained_tasks, task, data):
    """Each task's portable model (ONNX + its preprocessing, no fastai) should predict what fastai's model.pkl
    predicts: tabular probabilities and collab ratings within 1e-4, segmentation masks pixel for pixel."""
    import pandas as pd

    from fastcourse.images import open_image
    from fastcourse.predict import load

    home, _ = trained_tasks
    code = ("import sys, json, warnings\nwarnings.simplefilter('ignore')\nfrom fastai.learner import load_learner\n"
            "learn = load_learner(sys.argv[1])\n" + FASTAI_PREDS[task] + "\nprint(json.dumps(out))")
    r = subprocess.run([sys.executable, "-c", code, str(home / "models" / task / "model.pkl"), str(home / data)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    theirs = np.array(json.loads(r.stdout.strip().splitlines()[-1]))
    model = load(home / "models" / task)
    if task == "tabular":
        ours = np.array([[p[c] for c in model.spec["classes"]] for p in
                         (x["probs"] for x in model.predict(pd.read_csv(home / data).to_dict("records")))])
    elif task == "collab":
        rows = pd.read_csv(home / data).head(500)
        ours = model.ratings(list(zip(rows.user, rows.item)))
    else:
        files = sorted((home / data).glob("*.png"))[:10]
        ours_masks = np.stack(model.masks([open_image(f) for f in files]))
        assert (ours_masks == theirs.argmax(1)).mean() > 0.999
        return
    assert np.abs(ours - theirs).max() < 1e-4


@pytest.mark.slow
@pytest.mark.parametrize("task", ["tabular", "collab", "segment"])
def test_each_task_bundles_and_answers_from_a_clean_virtualenv(trained_tasks, task):
    """inv app.bundle --check should pass for every task: the Space's requirements alone, its example answered,
    and a card that says what the Space runs."""
    home, _ = trained_tasks
    p = run_inv("app.bundle", "--model", f"models/{task}", "--check", home=home, timeout=1200)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    answer = p.stdout.strip().splitlines()[-1]
    assert answer.startswith("check: Python") and {"tabular": "-> ", "collab": "-> rating ", "segment": "-> a mask of"}[task] in answer
    card = (home / "build/space" / task / "README.md").read_text()
    assert f"- task: {task}" in card and "- validation: " in card and "not measured" not in card
    assert "torch " in card and "fastai " in card


@pytest.mark.slow
@pytest.mark.parametrize("task", ["tabular", "collab", "segment"])
def test_each_report_shows_what_a_learner_wants(trained_tasks, task):
    """The report should show, in a real browser, the headline in plain words, the data, the epoch table with
    its loss curve, the task's plot and what to run next; the screenshot goes to build/report-screenshots/."""
    from conftest import REPO
    from helpers import screenshot

    home, _ = trained_tasks
    shown = screenshot(home / "models" / task / "report.html", REPO / "build/report-screenshots" / f"{task}.png")
    assert {"Data", "Training, epoch by epoch", "Next", "Configuration"} <= set(shown["headings"])
    assert {"loss.png", "plot.png"} <= set(shown["images"])
    page = (home / "models" / task / "report.html").read_text()
    words = {"tabular": "accuracy", "collab": "validation MSE", "segment": "mean Dice"}[task]
    assert words in page and f"inv app --model models/{task}" in page and "valid_mse 0." not in page
    config = json.loads((home / "models" / task / "config.json").read_text())
    assert "size" not in config and "resize" not in config  # vision-only options stay out of other tasks


@pytest.mark.slow
def test_segmentation_masks_look_like_masks(trained_tasks, tmp_path):
    """Predicted masks should be palette PNGs (each class its colour) whose pixels are still the class indices."""
    home, _ = trained_tasks
    image = sorted((home / "data/shapes/images").glob("*.png"))[0]
    assert run_inv("predict", str(image), "--model", "models/segment", "--out", str(tmp_path), home=home).returncode == 0
    with Image.open(tmp_path / f"{image.stem}_mask.png") as mask:
        assert mask.mode == "P" and mask.getpalette()[3:6] == [255, 127, 14]  # class 1: tab10's orange
        assert set(np.unique(np.asarray(mask))) <= {0, 1, 2}


@pytest.mark.slow
def test_collab_predict_takes_typed_pairs(trained_tasks):
    """inv predict USER,ITEM ... with a collab model should rate each pair; an unknown user is one line."""
    import pandas as pd

    home, _ = trained_tasks
    truth = pd.read_csv(home / "data/ratings/ratings.csv").head(2)
    pairs = [f"{u},{i}" for u, i in zip(truth.user, truth.item)]
    p = run_inv("predict", *pairs, "--model", "models/collab", home=home)
    assert p.returncode == 0, p.stderr[-2000:]
    out = pd.read_csv(io.StringIO(p.stdout))
    assert list(out.user) == list(truth.user) and (abs(out.rating - truth.rating) < 1.5).all()
    unknown = run_inv("predict", "99999,1", "--model", "models/collab", home=home)
    assert unknown.returncode == 1 and "user '99999' is not one the model was trained on" in unknown.stderr


@pytest.mark.slow
@pytest.mark.parametrize("task", ["tabular", "collab", "segment"])
def test_training_prints_no_warning_a_learner_cannot_act_on(trained_tasks, task):
    """No third-party warning (torch's read-only NumPy arrays, torch.jit) should reach a learner's screen."""
    _, runs = trained_tasks
    out = runs[task].stdout + runs[task].stderr
    assert "UserWarning" not in out and "FutureWarning" not in out and "\r" not in out, out[-2000:]
