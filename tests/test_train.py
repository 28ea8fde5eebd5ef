"""inv train (vision): artifacts, the offline and pretrained recipes, seeds, distributed, a model folder replaced as a unit."""

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO, offline_env, run_inv
from helpers import bomb, snapshot

from fastcourse.data import embedded
from fastcourse.images import open_image
from fastcourse.predict import PortableModel


@pytest.mark.slow
def test_bad_images_in_training_folder_are_skipped(tmp_path):
    """A corrupt file and a decompression bomb in a class folder should be skipped with a line each."""
    ds = embedded.write_digits(tmp_path) / "images"
    (ds / "3/broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    bomb(ds / "7/bomb.png")
    p = run_inv("train", "--epochs", "1", "--size", "32", home=tmp_path, env=offline_env(tmp_path / "torch"))
    assert p.returncode == 0, p.stderr[-2000:]
    skipped = [l for l in p.stdout.splitlines() if l.startswith("skipped:")]
    assert len(skipped) == 2 and any("broken.png" in l for l in skipped)
    assert any("bomb.png" in l and "decompression bomb" in l for l in skipped)


@pytest.fixture
def retrain_home(trained, tmp_path):
    """A copy of the trained project, so a failed retrain can be compared with the model it had."""
    home, _ = trained
    for sub in ("data", "models"):
        shutil.copytree(home / sub, tmp_path / sub)
    return tmp_path


def _limit_file_size():
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG, as on a full disk
    resource.setrlimit(resource.RLIMIT_FSIZE, (8 * 1024**2, 8 * 1024**2))


@pytest.mark.slow
def test_full_disk_during_export_keeps_the_old_model(retrain_home):
    """A write failure while exporting should be one line and leave the previous model folder untouched."""
    home = retrain_home
    before = snapshot(home / "models")
    env = {**os.environ, **offline_env(home / "torch"), "FASTCOURSE_HOME": str(home)}
    p = subprocess.run([sys.executable, "-m", "invoke", "-r", str(REPO), "train", "--epochs", "1", "--size", "32"],
                       env=env, cwd=home, capture_output=True, text=True, timeout=600, preexec_fn=_limit_file_size)
    assert p.returncode == 1 and "Traceback" not in p.stderr
    assert f"could not write {home / 'models/digits'}" in p.stderr.strip().splitlines()[-1]
    assert {k: v for k, v in snapshot(home / "models").items() if not k.endswith(".lock")} == \
           {k: v for k, v in before.items() if not k.endswith(".lock")}
    assert not [p for p in (home / "models").iterdir() if ".new-" in p.name]


@pytest.mark.slow
def test_read_only_models_folder_is_one_line(retrain_home):
    """A models/ that cannot be written should give one line, and the old model stays."""
    home = retrain_home
    models = home / "models"
    if os.geteuid() == 0:
        if subprocess.run(["chattr", "+i", str(models)], capture_output=True).returncode:
            pytest.skip("root and no chattr +i on this file system: cannot make a folder read-only")
    else:
        models.chmod(0o555)
    try:
        p = run_inv("train", "--epochs", "1", "--size", "32", home=home, env=offline_env(home / "torch"))
    finally:
        subprocess.run(["chattr", "-i", str(models)], capture_output=True) if os.geteuid() == 0 else models.chmod(0o755)
    assert p.returncode == 1 and "Traceback" not in p.stderr
    assert "models" in p.stderr and "permissions" in p.stderr.strip().splitlines()[-1]
    assert (models / "digits/model.onnx").exists()


@pytest.mark.slow
def test_model_files_are_readable_by_others(trained):
    """Files the kit writes should follow the umask (0644 under 022), so a web server can serve the report."""
    home, _ = trained
    for name in ("model.pkl", "model.onnx", "model.json", "config.json", "metrics.json", "report.html"):
        assert (home / "models/digits" / name).stat().st_mode & 0o777 == 0o644, name


def test_training_device_order(monkeypatch):
    """Training should use CUDA if present, else MPS, else the CPU (faked: no GPU here to show it)."""
    import torch

    from fastcourse.train import recipe as train

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert train.device() == "mps"
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert train.device() == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert train.device() == "cuda"


@pytest.mark.slow
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


@pytest.mark.slow
def test_fallback_warns_once_when_weights_unavailable(trained):
    """Without downloadable weights training should warn in one line and train from scratch."""
    _, p = trained
    warnings = [l for l in (p.stdout + p.stderr).splitlines() if l.startswith("WARNING: pretrained")]
    assert len(warnings) == 1 and "from scratch" in warnings[0]


@pytest.mark.slow
def test_pretrained_required_fails_clearly(inv, trained, tmp_path):
    """--pretrained with no reachable weights (forced offline) should exit non-zero with a one-line fix."""
    home, _ = trained
    p = inv("train", "--pretrained", "--epochs", "1", "--name", "x", home=home, env=offline_env(tmp_path))
    assert p.returncode != 0
    assert "--no-pretrained" in p.stderr and "Traceback" not in p.stderr
    assert not (home / "models/x").exists()


@pytest.mark.slow
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


@pytest.mark.slow
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


@pytest.mark.slow
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


@pytest.mark.slow
def test_distributed_two_cpu_processes(inv, tmp_path):
    """--procs 2 should train through accelerate with two gloo processes and export."""
    p = inv("train", "--procs", "2", "--epochs", "1", "--size", "32", "--name", "dist", home=tmp_path,
            env=offline_env(tmp_path / "torch"))  # forced onto the CPU (no GPUs visible) and offline
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-3000:]
    assert "2 processes, DistributedType.MULTI_CPU, backend gloo" in p.stdout
    assert json.loads((tmp_path / "models/dist/config.json").read_text())["processes"] == 2
    assert (tmp_path / "models/dist/model.onnx").exists()


@pytest.mark.slow
def test_data_named_after_the_embedded_dataset_is_created(inv, tmp_path):
    """--data digits in an empty project should write the embedded dataset first, as the default does."""
    p = inv("train", "--data", "digits", "--epochs", "1", "--size", "32", "--no-pretrained", home=tmp_path)
    assert p.returncode == 0, p.stderr[-2000:]
    assert (tmp_path / "data/digits/manifest.csv").exists() and (tmp_path / "models/digits/model.onnx").exists()
