"""inv train (vision): artifacts, the offline and pretrained recipes, seeds, distributed, a model folder replaced as a unit."""

import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO, offline_env, run_inv
from helpers import bomb, hostile, ids, snapshot

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
    tail = p.stdout[p.stdout.index("report: "):].splitlines()  # the summary ends with the report and what next
    assert tail[:2] == [f"report: {out / 'report.html'}  (open it in a browser)", "next:"]
    predict, app = (line.split("#")[0].split() for line in tail[2:4])
    assert app == ["inv", "app", "--model", "models/digits"]
    assert predict[:2] == ["inv", "predict"] and predict[3:] == ["--model", "models/digits"]
    shown = run_inv(*predict[1:], home=home)  # the command as printed runs, on one of the training images
    assert shown.returncode == 0 and predict[2] in shown.stdout and (home / predict[2]).is_file(), shown.stderr
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
    """--data digits in an empty project should write the embedded dataset first, as the default does; --data birds
    should then train models/birds beside it."""
    p = inv("train", "--data", "digits", "--epochs", "1", "--size", "32", "--no-pretrained", home=tmp_path)
    assert p.returncode == 0, p.stderr[-2000:]
    assert (tmp_path / "data/digits/manifest.csv").exists() and (tmp_path / "models/digits/model.onnx").exists()
    before = snapshot(tmp_path / "models/digits")
    shutil.copytree(tmp_path / "data/digits", tmp_path / "data/birds")
    p = inv("train", "--data", "birds", "--epochs", "1", "--size", "32", "--no-pretrained", home=tmp_path)
    assert p.returncode == 0 and (tmp_path / "models/birds/model.onnx").exists(), p.stderr[-2000:]
    assert snapshot(tmp_path / "models/digits") == before  # another dataset's model is not replaced


@pytest.mark.parametrize("data, name", [("birds", "birds"), ("data/birds/images/", "birds"), ("/x/pets/images", "pets"),
                                        ("my table.csv", "my-table"), ("..", None), (".", None)])
def test_a_model_is_named_after_its_data(data, name):
    """With --data and no --name, the model folder should take the dataset's name (or the task's, if none fits)."""
    from fastcourse.train.config import TrainConfig, data_name

    assert data_name(data) == name
    assert TrainConfig(data=data).name == (name or "digits")


HOSTILE = [  # (args, env, the line it ends with, the folder it may change)
    (["train", "--name", ".."], {}, "--name '..' is not a plain name", None),
    (["train", "--name", ""], {}, "--name '' is not a plain name", None),
    (["train", "--name", "a/b"], {}, "--name 'a/b' is not a plain name", None),
    (["train", "--size", "1"], {}, "--size 1 is out of range", None),
    (["train", "--bs", "0"], {}, "--bs 0 is out of range", None),
    (["train", "--epochs", "x"], {}, "--epochs 'x' is not a whole number", None),
    (["train", "--lr", "0"], {}, "--lr 0.0 is out of range", None),
    (["train", "--procs", "0"], {}, "--procs 0 is out of range", None),
    (["train", "--task", "bogus"], {}, "--task 'bogus' is not one of vision, tabular, collab, segment", None),
    (["train", "--resize", "zoom"], {}, "--resize 'zoom' is not one of squish, crop, pad", None),
    (["train", "--arch", "resnet"], {}, "--arch resnet:", None),
    (["train", "--machines", "2"], {}, "--machines 2 needs --main-ip", None),
    (["train", "--machines", "2", "--machine-rank", "2", "--main-ip", "10.0.0.1"], {}, "--machine-rank 2 is out of range",
     None),
    (["train", "--data", "few", "--name", "few"], {}, "too few readable images", "models"),
    (["train", "--data", "emptyclass", "--name", "e"], {}, "class folder(s) b hold no images", "models"),
    (["train", "--data", "nowhere"], {}, "--data nowhere: no such folder", "models"),
    (["train", "--data", "inputs/bomb.png"], {}, "no such folder", "models"),
    (["train", "--name", "linked", "--epochs", "1"], {}, "models/linked is a link to", None),
]


@pytest.mark.parametrize("args, env, message, owns", HOSTILE, ids=ids(HOSTILE))
def test_hostile_train(tmp_path, args, env, message, owns):
    """inv train with bad input should end in its one line, exit 1, and change nothing outside its folder."""
    hostile(tmp_path, args, env, message, owns)


@pytest.mark.slow
def test_class_folders_take_only_their_own_image_files(inv, tmp_path):
    """Links (a loop included) and sub-folders in a dataset should be skipped with a line each, never become
    classes, and never put the same image in both training and validation."""
    embedded.write_digits(tmp_path)
    images = tmp_path / "data/digits/images"
    (images / "3/loop").symlink_to(images, target_is_directory=True)  # a link loop inside a class folder
    (images / "seven").symlink_to(images / "7", target_is_directory=True)  # the same images as another class
    (images / "7/more").mkdir()
    shutil.copy(next((images / "7").glob("*.png")), images / "7/more/x.png")
    p = inv("train", "--epochs", "1", "--size", "32", home=tmp_path, env=offline_env(tmp_path / "torch"))
    assert p.returncode == 0, p.stderr[-2000:]
    assert f"skipped: {images / 'seven'} is a link" in p.stdout
    assert f"skipped: 1 link(s) in {images / '3'}" in p.stdout
    assert f"skipped: folder(s) more inside the class folder {images / '7'}" in p.stdout
    metrics = json.loads((tmp_path / "models/digits/metrics.json").read_text())
    assert set(metrics["per_class"]) == {"3", "7"}
    assert metrics["valid_items"] == int(len(list(images.glob("[37]/*.png"))) * 0.2)


@pytest.mark.slow
def test_a_killed_export_leaves_nothing_behind_after_the_next_run(inv, trained, tmp_path):
    """A .NAME.new-PID folder of a dead run (kill -9 during export) should be removed by the next training."""
    home = tmp_path / "home"
    shutil.copytree(trained[0], home, symlinks=True)
    dead = subprocess.Popen(["true"])
    dead.wait()
    leftover = home / f"models/.digits.new-{dead.pid}"
    leftover.mkdir()
    (leftover / "model.pkl").write_bytes(b"half" * 1000)
    live = home / f"models/.digits.new-{os.getpid()}"  # a run that is still going: left alone
    live.mkdir()
    p = inv("train", "--epochs", "1", "--size", "32", "--name", "other", home=home, env=offline_env(home / "torch"))
    assert p.returncode == 0, p.stderr[-2000:]
    assert not leftover.exists() and live.exists()


@pytest.mark.slow
def test_a_piped_training_log_reads_as_lines(trained):
    """inv train with its output piped (a log file) should print one line per epoch, no carriage returns, no bars."""
    _, p = trained
    out = p.stdout + p.stderr
    assert "\r" not in out and "█" not in out
    epochs = [l for l in p.stdout.splitlines() if l.startswith("epoch ")]
    assert len(epochs) == 5 and all("train_loss" in l and "valid_loss" in l and "error_rate" in l for l in epochs)


@pytest.mark.slow
def test_the_vision_report_shows_what_a_learner_wants(trained):
    """The vision report should show the data, the recipe and why, the epoch table and loss curve, its plots and
    the next commands; the screenshot goes to build/report-screenshots/vision.png."""
    from helpers import screenshot

    home, _ = trained
    report = home / "models/digits/report.html"
    shown = screenshot(report, REPO / "build/report-screenshots/vision.png")
    assert {"Data", "Per class", "Training, epoch by epoch", "Confusion matrix", "Top losses", "Next"} <= set(
        shown["headings"])
    assert {"loss.png", "confusion_matrix.png", "top_losses.png"} <= set(shown["images"])
    page = report.read_text()
    assert "the embedded digits" in page and "trained from scratch: resnet18" in page
    example = re.search(r"inv predict (\S+) --model models/digits", page)
    assert example and (home / example.group(1)).is_file()  # the next command runs as shown
    metrics = json.loads((home / "models/digits/metrics.json").read_text())
    assert len(metrics["epoch_table"]) == 5 and {"train_loss", "valid_loss", "error_rate"} <= set(metrics["epoch_table"][0])


@pytest.mark.slow
def test_replacing_a_model_says_where_the_previous_one_is(inv, trained, tmp_path):
    """Training over an existing model should say in one line that it replaced it and where the old one is."""
    home = tmp_path / "home"
    shutil.copytree(trained[0], home, symlinks=True)
    before = (home / "models/digits/model.onnx").read_bytes()
    p = inv("train", "--epochs", "1", "--size", "32", home=home, env=offline_env(home / "torch"))
    assert p.returncode == 0, p.stderr[-2000:]
    assert f"replaced {home / 'models/digits'}; the previous model is kept in {home / 'models/.previous/digits'}" in p.stdout
    assert (home / "models/.previous/digits/model.onnx").read_bytes() == before


@pytest.mark.parametrize("fail", ["log", "rename"])
def test_the_model_swap_survives_a_closed_stdout_or_a_failed_rename(tmp_path, monkeypatch, fail):
    """A model swap should leave models/NAME whole: the new model in place when only the message fails (a
    closed pipe: `inv train | head`), the old one back in place when moving the new one in fails."""
    from fastcourse.train import export

    dest = tmp_path / "models/digits"
    dest.mkdir(parents=True)
    (dest / "model.onnx").write_text("old")
    if fail == "log":
        monkeypatch.setattr(export, "log", lambda msg: (_ for _ in ()).throw(BrokenPipeError(32, "Broken pipe")))
    real_rename = Path.rename
    if fail == "rename":
        monkeypatch.setattr(Path, "rename", lambda self, to: (_ for _ in ()).throw(OSError(28, "No space left"))
                            if ".new-" in self.name else real_rename(self, to))
    with pytest.raises((BrokenPipeError, export.TrainError)):
        with export.new_folder(dest) as tmp:
            (tmp / "model.onnx").write_text("new")
    assert (dest / "model.onnx").read_text() == ("new" if fail == "log" else "old")
    assert not [p for p in dest.parent.iterdir() if ".new-" in p.name]


@pytest.mark.parametrize("error, note", [
    (39 / 72, "no better than always answering 'forest' (54% of the held-out items): train longer (--epochs 5)"),
    (0.5, "no better than always answering"), (0.3, None), (0.0, None)])
def test_a_classifier_no_better_than_guessing_is_called_so(error, note):
    """A classifier whose error is no lower than always answering its commonest class should get a warning
    naming that class and what to try; a useful one none."""
    from fastcourse.schema import weak_note

    metrics = {"error_rate": error, "epochs": 1, "per_class": {"bird": {"support": 33}, "forest": {"support": 39}}}
    got = weak_note(metrics)
    assert (got is None) if note is None else got.startswith(note)


@pytest.mark.parametrize("table, explained", [
    ([(0.63, 3503.4), (0.54, 82.7), (0.23, 0.0008)], True),   # vision from scratch: batch-norm's first epoch
    ([(0.70, 0.93), (0.42, 0.51), (0.03, 0.0065)], False),    # tabular: a loss that falls as the model learns
    ([(0.80, 0.73)], False),                                  # one epoch: nothing to compare
])
def test_only_a_wild_first_validation_loss_is_explained(table, explained):
    """The report should explain a first validation loss far above its own training loss, and only that."""
    from fastcourse.train.report import loss_note

    note = loss_note({"epoch_table": [{"train_loss": t, "valid_loss": v} for t, v in table]})
    assert bool(note) is explained and ("batch-norm" in note) is explained
