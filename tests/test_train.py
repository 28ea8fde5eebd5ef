"""Issue 4: the main job end to end, export, portable model, fallback, seeds, distributed, predict."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import GOOD_SPEC, offline_env
from fastcourse.predict import ModelError, PortableModel, open_image

pytestmark = pytest.mark.slow


def test_train_defaults_produce_artifacts(trained):
    """inv train with no arguments should write every artifact and end with the report path."""
    home, p = trained
    out = home / "models/digits"
    for name in ("model.pkl", "model.onnx", "model.json", "config.json", "metrics.json",
                 "confusion_matrix.png", "top_losses.png", "report.html"):
        assert (out / name).stat().st_size > 0, name
    assert p.stdout.strip().splitlines()[-1] == f"report: {out / 'report.html'}"
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["error_rate"] <= 0.05
    assert set(metrics["per_class"]) == {"3", "7"}
    assert metrics["data_manifest_sha256"] and metrics["versions"]["torch"]
    config = json.loads((out / "config.json").read_text())
    assert config["pretrained"] is False and config["seed"] == 42


def test_fallback_warns_once_when_weights_unavailable(trained):
    """Without downloadable weights training should warn in one line and train from scratch."""
    _, p = trained
    warnings = [l for l in (p.stdout + p.stderr).splitlines() if l.startswith("WARNING: pretrained")]
    assert len(warnings) == 1 and "from scratch" in warnings[0]


def test_pretrained_required_fails_clearly(inv, trained, tmp_path):
    """--pretrained with no reachable weights (forced offline) should exit non-zero with a one-line fix."""
    home, _ = trained
    p = inv("train", "--pretrained", "--epochs", "1", "--name", "x", home=home, env=offline_env(tmp_path))
    assert p.returncode != 0
    assert "--no-pretrained" in p.stderr and "Traceback" not in p.stderr
    assert not (home / "models/x").exists()


def test_pretrained_path_end_to_end(pretrained):
    """With weights in the cache, train should fine_tune a pretrained model, export it, and predict portably."""
    home, p = pretrained
    out = home / "models/digits"
    config = json.loads((out / "config.json").read_text())
    assert config["pretrained"] is True and config["lr"] == 2e-3
    assert "WARNING: pretrained" not in p.stdout + p.stderr
    images = sorted((home / "data/digits/images").rglob("*.png"))[::40]
    probs = PortableModel(out).probs([open_image(f) for f in images])
    assert probs.shape == (len(images), 2) and np.allclose(probs.sum(1), 1, atol=1e-4)
    r = subprocess.run([sys.executable, "-m", "invoke", "-r", str(Path(__file__).parents[1]), "predict",
                        str(images[0]), "--json"], cwd=home, env={**os.environ, "FASTCOURSE_HOME": str(home)},
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and json.loads(r.stdout)["label"] in ("3", "7")


def test_load_learner_in_fresh_process_matches_portable(trained):
    """model.pkl should load in a fresh process with nothing in __main__ and match the ONNX model within 1e-4."""
    home, _ = trained
    images = sorted((home / "data/digits/images").rglob("*.png"))[::25]
    code = ("import sys, json; from fastai.vision.all import load_learner\n"
            "learn = load_learner(sys.argv[1])\n"
            "print(json.dumps([learn.predict(f)[2].tolist() for f in sys.argv[2:]]))")
    r = subprocess.run([sys.executable, "-c", code, str(home / "models/digits/model.pkl"), *map(str, images)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    fastai_probs = np.array(json.loads(r.stdout.strip().splitlines()[-1]))
    portable = PortableModel(home / "models/digits").probs([open_image(f) for f in images])
    assert np.abs(fastai_probs - portable).max() < 1e-4
    labels = [PortableModel(home / "models/digits").classes[i] for i in portable.argmax(1)]
    assert sum(l == f.parent.name for l, f in zip(labels, images)) >= len(images) - 1


@pytest.mark.parametrize("method", ["squish", "crop", "pad"])
def test_portable_resize_matches_fastai(tmp_path, method):
    """Portable preprocessing should reproduce fastai's validation Resize for each method."""
    from fastai.vision.all import PILImage, Resize, ResizeMethod
    from PIL import Image

    from fastcourse.predict import fit_image

    rng = np.random.default_rng(0)
    img = Image.fromarray(rng.integers(0, 255, (37, 61, 3), dtype=np.uint8))
    ref = Resize(24, method=getattr(ResizeMethod, method.capitalize()))(PILImage(img), split_idx=1)
    ours = fit_image(img, (24, 24), method, "reflection")
    assert np.array_equal(np.asarray(ref), np.asarray(ours))


def test_same_seed_same_metrics(inv, tmp_path):
    """Two runs with the same seed and data should give identical metrics on CPU."""
    results = []
    for name in ("a", "b"):
        p = inv("train", "--epochs", "1", "--size", "32", "--name", name, "--seed", "7", home=tmp_path,
                env=offline_env(tmp_path / "torch"))
        assert p.returncode == 0, p.stderr[-2000:]
        m = json.loads((tmp_path / f"models/{name}/metrics.json").read_text())
        results.append((m["error_rate"], m["per_class"]))
    assert results[0] == results[1]


def test_distributed_two_cpu_processes(inv, tmp_path):
    """--procs 2 should train through accelerate with two gloo processes and export."""
    p = inv("train", "--procs", "2", "--epochs", "1", "--size", "32", "--name", "dist", home=tmp_path,
            env=offline_env(tmp_path / "torch"))  # forced onto the CPU (no GPUs visible) and offline
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-3000:]
    assert "2 processes, DistributedType.MULTI_CPU, backend gloo" in p.stdout
    assert json.loads((tmp_path / "models/dist/config.json").read_text())["processes"] == 2
    assert (tmp_path / "models/dist/model.onnx").exists()


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


def test_data_named_after_the_embedded_dataset_is_created(inv, tmp_path):
    """--data digits in an empty project should write the embedded dataset first, as the default does."""
    p = inv("train", "--data", "digits", "--epochs", "1", "--size", "32", "--no-pretrained", home=tmp_path)
    assert p.returncode == 0, p.stderr[-2000:]
    assert (tmp_path / "data/digits/manifest.csv").exists() and (tmp_path / "models/digits/model.onnx").exists()
