"""Issue 12: nothing lost — file modes, merged decisions, quarantine respected, retries, model folder as a unit."""

import csv
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, offline_env, run_inv
from fastcourse import clean, embedded, fetch as fe, manifest
from fastcourse.util import atomic_write_text
from imageserver import ImageServer
from test_hostile import bomb, snapshot


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o027, 0o640), (0o077, 0o600)])
def test_atomic_writes_honour_the_umask(tmp_path, mask, mode):
    """A file written atomically should get 0666 less the umask, like a plain open(), not mkstemp's 0600."""
    old = os.umask(mask)
    try:
        path = atomic_write_text(tmp_path / "report.html", "<p>hi</p>")
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == mode


def test_decisions_merge_keeps_the_learners_edits():
    """Re-scoring should keep every decision already made and add new rows as keep."""
    old = [{"path": "images/3/a.png", "action": "delete", "new_category": ""},
           {"path": "images/3/b.png", "action": "relabel", "new_category": "7"},
           {"path": "images/7/gone.png", "action": "delete", "new_category": ""}]
    scored = [{"path": "images/3/b.png", "loss": 3.0}, {"path": "images/3/a.png", "loss": 2.0},
              {"path": "images/7/new.png", "loss": 1.0}]
    merged = {r["path"]: (r["action"], r["new_category"]) for r in clean.merge_decisions(old, scored)}
    assert merged == {"images/3/a.png": ("delete", ""), "images/3/b.png": ("relabel", "7"),
                      "images/7/new.png": ("keep", ""), "images/7/gone.png": ("delete", "")}


def test_embedded_respects_quarantine_and_relabels(tmp_path):
    """data.embedded after cleaning should not bring quarantined images back nor undo relabels."""
    ds = embedded.write_digits(tmp_path)
    rows = manifest.read(ds / "manifest.csv")
    gone, moved = rows[0], rows[1]
    (ds / "quarantine/3").mkdir(parents=True)
    shutil.move(ds / gone["path"], ds / "quarantine/3" / Path(gone["path"]).name)
    gone.update(status="deleted", path=f"quarantine/3/{Path(gone['path']).name}")
    shutil.move(ds / moved["path"], ds / "images/7" / Path(moved["path"]).name)
    moved.update(category="7", reason="relabeled from 3 while cleaning", path=f"images/7/{Path(moved['path']).name}")
    manifest.write(ds / "manifest.csv", rows)
    p = run_inv("data.embedded", home=tmp_path)
    assert p.returncode == 0, p.stderr
    after = {r["url"]: r for r in manifest.read(ds / "manifest.csv")}
    assert len(after) == len(rows)
    assert after[gone["url"]]["status"] == "deleted" and after[moved["url"]]["category"] == "7"
    assert not (ds / "images/3" / Path(gone["path"]).name).exists()
    assert not (ds / "images/3" / Path(moved["path"]).name).exists()


def test_fetch_retries_failed_urls_only_when_asked(tmp_path):
    """A failed URL stays failed on a plain re-run and is tried again with --retry-failed."""
    with ImageServer() as server:
        urls = tmp_path / "urls/c.txt"
        urls.parent.mkdir()
        urls.write_text(f"{server.url('/busy.jpg')}\n{server.url('/good/1.jpg')}\n")
        base = ["data.fetch", "--name", "r", "--urls", str(urls)]
        assert run_inv(*base, home=tmp_path).returncode == 0
        hits = server.hits["/busy.jpg"]
        assert run_inv(*base, home=tmp_path).returncode == 0
        assert server.hits["/busy.jpg"] == hits
        p = run_inv(*base, "--retry-failed", home=tmp_path)
        assert p.returncode == 0 and server.hits["/busy.jpg"] > hits
    rows = manifest.read(tmp_path / "data/r/manifest.csv")
    assert sorted(r["status"] for r in rows) == ["failed", "kept"]  # one row per URL, no duplicates


def test_fetch_does_not_bring_back_deleted_bytes(tmp_path):
    """The same bytes as an image deleted while cleaning, at a new URL, should not be kept again."""
    with ImageServer() as server:
        [first] = fe.fetch(tmp_path, "q", [{"category": "c", "url": server.url("/good/5.jpg")}], progress=False)
        ds = tmp_path / "data/q"
        rows = manifest.read(ds / "manifest.csv")
        rows[0].update(status="deleted", path="quarantine/c/x.jpg")
        (ds / first["path"]).unlink()
        manifest.write(ds / "manifest.csv", rows)
        rows = fe.fetch(tmp_path, "q", [{"category": "c", "url": server.url("/dup/5.jpg")}], progress=False)
    assert rows[-1]["status"] == "deleted" and rows[-1]["reason"] == fe.DELETED_TWIN
    assert not list((ds / "images").rglob("*.jpg"))


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


@pytest.mark.slow
def test_clean_refuses_a_model_of_other_classes(trained):
    """data.clean with a model that does not know the dataset's classes should say so, not report inf losses."""
    home, _ = trained
    assert run_inv("data.embedded", "--name", "other", "--classes", "3,9", home=home).returncode == 0
    p = run_inv("data.clean", "--name", "other", "--model", "models/digits", home=home)
    assert p.returncode == 1 and "Traceback" not in p.stderr
    assert "the model knows ['3', '7'] but the dataset also has ['9']" in p.stderr
    assert not (home / "data/other/clean").exists()


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
def test_clean_report_rerun_keeps_decisions(trained):
    """Re-running the cleaning report should keep what the learner wrote in decisions.csv."""
    home, _ = trained
    assert run_inv("data.clean", "--name", "digits", home=home).returncode == 0
    path = home / "data/digits/clean/decisions.csv"
    rows = list(csv.DictReader(path.open()))
    rows[0]["action"], rows[2]["action"], rows[2]["new_category"] = "delete", "relabel", "7"
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, rows[0].keys())
        w.writeheader()
        w.writerows(rows)
    assert run_inv("data.clean", "--name", "digits", home=home).returncode == 0
    again = {r["path"]: r for r in csv.DictReader(path.open())}
    assert again[rows[0]["path"]]["action"] == "delete"
    assert (again[rows[2]["path"]]["action"], again[rows[2]["path"]]["new_category"]) == ("relabel", "7")
    assert len(again) == len(rows)
