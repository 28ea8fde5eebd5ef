"""inv predict and the portable model: batches, bad files, resize parity with fastai, paths with spaces."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import GOOD_SPEC, run_inv
from helpers import bomb, hostile, ids
from PIL import Image

from fastcourse.errors import ModelError
from fastcourse.predict import PortableModel


@pytest.mark.slow
def test_predict_treats_a_bomb_like_any_bad_file(trained, tmp_path):
    """A decompression bomb among inputs should be named as an error while the other images are predicted."""
    home, _ = trained
    good = sorted((home / "data/digits/images/3").glob("*.png"))[0]
    p = run_inv("predict", str(bomb(tmp_path / "bomb.png")), "--json", "--", str(good), home=home)
    assert p.returncode == 1 and "Traceback" not in p.stderr
    rows = [json.loads(l) for l in p.stdout.splitlines()]
    assert "decompression bomb" in rows[0]["error"] and rows[1]["label"] == "3"


@pytest.mark.slow
def test_predict_paths_with_spaces(trained, tmp_path):
    """predict should take image paths with spaces, positionally and after `--`."""

    home, _ = trained
    src = sorted((home / "data/digits/images/7").glob("*.png"))[0]
    a, b = tmp_path / "my photos/a b.png", tmp_path / "c d.png"
    a.parent.mkdir()
    shutil.copy(src, a), shutil.copy(src, b)
    p = run_inv("predict", str(a), "--json", "--", str(b), home=home)
    assert p.returncode == 0, p.stderr
    assert [json.loads(l)["path"] for l in p.stdout.splitlines()] == [str(a), str(b)]


@pytest.mark.slow
@pytest.mark.parametrize("method", ["squish", "crop", "pad"])
def test_portable_resize_matches_fastai(tmp_path, method):
    """Portable preprocessing should reproduce fastai's validation Resize for each method."""
    from fastai.vision.all import PILImage, Resize, ResizeMethod

    from fastcourse.images import fit_image

    rng = np.random.default_rng(0)
    img = Image.fromarray(rng.integers(0, 255, (37, 61, 3), dtype=np.uint8))
    ref = Resize(24, method=getattr(ResizeMethod, method.capitalize()))(PILImage(img), split_idx=1)
    ours = fit_image(img, (24, 24), method, "reflection")
    assert np.array_equal(np.asarray(ref), np.asarray(ours))


@pytest.mark.slow
def test_predict_directory_and_bad_files(inv, trained, tmp_path):
    """predict should batch a directory, name each bad file, and still predict the rest."""
    home, _ = trained
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    good = home / "data/digits/images/7"
    p = inv("predict", str(tmp_path / "notes.txt"), "--json", "--", str(tmp_path / "broken.jpg"),
            str(tmp_path / "missing.png"), str(good), home=home)
    assert p.returncode != 0
    rows = [json.loads(l) for l in p.stdout.splitlines()]
    errors = {Path(r["path"]).name: r["error"] for r in rows if "error" in r}
    assert set(errors) == {"notes.txt", "broken.jpg", "missing.png"}
    predicted = [r for r in rows if "label" in r]
    assert len(predicted) == len(list(good.glob("*.png")))
    assert sum(r["label"] == "7" for r in predicted) >= 0.9 * len(predicted)
    assert "could not be predicted" in p.stderr


@pytest.mark.slow
def test_predict_missing_and_broken_model(inv, tmp_path):
    """A missing or broken model folder should give a clear error naming it."""
    with pytest.raises(ModelError, match="not found"):
        PortableModel(tmp_path)
    (tmp_path / "model.json").write_text(json.dumps(GOOD_SPEC))
    (tmp_path / "model.onnx").write_bytes(b"garbage")
    with pytest.raises(ModelError, match="broken model"):
        PortableModel(tmp_path)
    p = inv("predict", "x.png", "--model", str(tmp_path / "nope"), home=tmp_path)
    assert p.returncode != 0 and "nope/model.json not found" in p.stderr


HOSTILE = [  # (args, env, the line it ends with, the folder it may change)
    (["predict", "inputs/bomb.png", "--model", "models/nolabels"], {}, "classes is missing", None),
    (["predict", "x.png", "--model", "models/truncated"], {}, "is not readable JSON", None),
    (["predict", "x.png", "--model", "models/listjson"], {}, "holds list, not an object of keys", None),
    (["predict", "x.png", "--model", "models/classstring"], {}, "classes must be a list of at least two class names",
     None),
    (["predict", "x.png", "--model", "models/zoom"], {}, 'resize must be one of squish, crop, pad, not "zoom"', None),
    (["predict", "x.png", "--model", "models/negstd"], {}, "std must be a list of three positive numbers", None),
    (["predict", "x.png", "--model", "models/mismatch"], {}, "classes lists 3 names but model.onnx gives 2 outputs",
     None),
    (["predict", "x.png", "--model", "models/nulltask"], {}, "task must be one of vision, tabular, collab, segment, "
                                                             "not null", None),
    (["predict", "inputs/bomb.png", "--model", "models/good"], {}, "could not be predicted", None),
    (["predict", "--model", "models/good"], {}, "predict needs something to predict", None),
    (["predict", "x.png", "--bs", "0"], {}, "--bs 0 is out of range", None),
]


@pytest.mark.parametrize("args, env, message, owns", HOSTILE, ids=ids(HOSTILE))
def test_hostile_predict(tmp_path, args, env, message, owns):
    """inv predict with a broken model file or bad input should end in one line naming the file and the key."""
    hostile(tmp_path, args, env, message, owns)


@pytest.mark.slow
def test_predict_takes_what_a_learner_types(trained, tmp_path):
    """Several images and folders as positionals, options anywhere among them, the model named first."""
    home, _ = trained
    three, seven = sorted((home / "data/digits/images/3").glob("*.png"))[0], sorted((home / "data/digits/images/7").glob("*.png"))[0]
    p = run_inv("predict", str(three), "--json", str(seven), "--model", "models/digits", str(home / "data/digits/images/3"),
                home=home)
    assert p.returncode == 0, p.stderr[-2000:]
    rows = [json.loads(l) for l in p.stdout.splitlines()]
    assert [r["label"] for r in rows[:2]] == ["3", "7"] and len(rows) == 2 + len(list((home / "data/digits/images/3").glob("*.png")))
    assert p.stderr.splitlines()[0].startswith(f"model {home / 'models/digits'} (vision, trained ")
    misplaced = run_inv("predict", str(three), "--", str(seven), "--model", "x", home=home)
    assert misplaced.returncode == 1 and "--model after `--` would be read as a file name" in misplaced.stderr


@pytest.mark.parametrize("task", ["predict", "train", "nb.run", "app", "deploy", "data.fetch"])
def test_dash_h_is_help_on_every_task(task):
    """`inv TASK -h` should print the task's help, even where the task takes a positional."""
    p = run_inv(task, "-h")
    assert p.returncode == 0 and "Usage:" in p.stdout and "Options:" in p.stdout, p.stdout + p.stderr
