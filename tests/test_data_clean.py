"""inv data.clean: the report, decisions kept across reruns, applied into quarantine."""

import csv
import os
from collections import Counter

import pytest
from conftest import run_inv
from helpers import hostile, ids, tiny_dataset

from fastcourse.data import clean, manifest


@pytest.mark.slow
def test_clean_report_and_apply(inv, tmp_path):
    """data.clean should write a report and decisions.csv; --apply quarantines and relabels, recorded in the manifest."""
    assert inv("train", "--epochs", "1", "--size", "32", "--no-pretrained", home=tmp_path).returncode == 0
    p = inv("data.clean", "--name", "digits", "--model", "models/digits", home=tmp_path)
    assert p.returncode == 0, p.stderr
    ds = tmp_path / "data/digits"
    for name in ("report.html", "top_losses.png", "queries.png", "decisions.csv"):
        assert (ds / "clean" / name).stat().st_size > 0
    assert p.stdout.startswith(f"model {tmp_path / 'models/digits'} (vision, trained ")  # which model judges
    page = (ds / "clean/report.html").read_text()
    assert f"Judged by model {tmp_path / 'models/digits'}" in page and "top_losses.png" not in page  # each image once
    rows = list(csv.DictReader((ds / "clean/decisions.csv").open()))
    assert [float(r["loss"]) for r in rows] == sorted((float(r["loss"]) for r in rows), reverse=True)
    rows[0]["action"], rows[1]["action"], rows[1]["new_category"] = "delete", "relabel", "7" if rows[1]["category"] == "3" else "3"
    with (ds / "clean/decisions.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, rows[0].keys())
        w.writeheader()
        w.writerows(rows)
    p = inv("data.clean", "--name", "digits", "--apply", home=tmp_path)
    assert p.returncode == 0, p.stderr
    assert not (ds / rows[0]["path"]).exists()
    assert (ds / "quarantine" / rows[0]["category"] / os.path.basename(rows[0]["path"])).exists()
    assert (ds / "images" / rows[1]["new_category"] / os.path.basename(rows[1]["path"])).exists()
    m = {r["url"]: r for r in manifest.read(ds / "manifest.csv")}
    statuses = Counter(r["status"] for r in m.values())
    assert statuses["deleted"] == 1
    assert sum("relabeled from" in r["reason"] for r in m.values()) == 1
    again = inv("data.clean", "--name", "digits", "--apply", home=tmp_path)
    assert again.returncode == 0 and "already applied: 2" in again.stdout


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


@pytest.mark.slow
def test_clean_takes_the_learners_own_photos(trained, tmp_path):
    """Photos put by hand into data/NAME/images/<category>/ (no manifest) should be indexed once, with an
    unreadable file left out, then reported and applied like fetched ones."""
    import shutil

    home = tmp_path / "home"
    shutil.copytree(trained[0], home, symlinks=True)
    shutil.copytree(home / "data/digits/images", home / "data/mine/images")
    (home / "data/mine/images/3/broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really")
    p = run_inv("data.clean", "--name", "mine", "--model", "models/digits", home=home)
    assert p.returncode == 0, p.stderr
    kept = sum(1 for _ in (home / "data/digits/images").rglob("*.png"))
    assert f"indexed {kept} of your own images into {home / 'data/mine/manifest.csv'}" in p.stdout
    rows = manifest.read(home / "data/mine/manifest.csv")
    assert {r["status"] for r in rows} == {"kept"} and not [r for r in rows if "broken" in r["path"]]
    decisions = list(csv.DictReader((home / "data/mine/clean/decisions.csv").open()))
    assert len(decisions) == kept
    decisions[0]["action"] = "delete"
    with (home / "data/mine/clean/decisions.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, decisions[0].keys())
        w.writeheader()
        w.writerows(decisions)
    assert run_inv("data.clean", "--name", "mine", "--apply", home=home).stdout.strip() == "delete: 1"
    assert (home / "data/mine/quarantine" / decisions[0]["category"] / os.path.basename(decisions[0]["path"])).exists()


HOSTILE = [  # (args, env, the line it ends with, the folder it may change)
    (["data.clean", "--name", ".."], {}, "--name '..' is not a plain name", None),
    (["data.clean", "--name", "nothing"], {}, "or put your photos in", None),
    (["data.clean", "--name", "digits", "--top", "0"], {}, "--top 0 is out of range", None),
    (["data.clean", "--name", "digits", "--apply"], {}, "lacks the column(s) action, new_category, path", "data/digits"),
    (["data.clean", "--name", "unknownpath", "--apply"], {}, "line 2: 'images/a/nothere.png' is not a kept image",
     "data/unknownpath"),
    (["data.clean", "--name", "qlink", "--apply"], {}, "quarantine is a link to", "data/qlink"),
    (["data.clean", "--name", "classlink", "--apply"], {}, "new_category 'cats' is not one of ['a', 'b']",
     "data/classlink"),
    (["data.clean", "--name", "utf16dec", "--apply"], {}, "is UTF-16 text — save it as UTF-8", "data/utf16dec"),
    (["data.clean", "--name", "digits", "--model", "models/mismatch"], {}, "classes lists 3 names", "data/digits"),
]


@pytest.mark.parametrize("args, env, message, owns", HOSTILE, ids=ids(HOSTILE))
def test_hostile_clean(tmp_path, args, env, message, owns):
    """inv data.clean with bad decisions should list every bad line, apply none of them, and move nothing out."""
    hostile(tmp_path, args, env, message, owns)


def test_decisions_saved_by_excel_apply_and_rerun(tmp_path):
    """decisions.csv saved by Excel (UTF-8 with a BOM) should apply; a rerun should find those lines done."""
    ds = tiny_dataset(tmp_path, "excel")
    (ds / "clean/decisions.csv").write_bytes("\ufeffpath,action,new_category\nimages/a/1.png,delete,\n"
                                             "images/b/2.png,relabel,a\n".encode())
    assert clean.apply(ds) == Counter(delete=1, relabel=1)
    assert (ds / "quarantine/a/1.png").exists() and (ds / "images/a/2.png").exists()
    rows = {r["path"]: r for r in manifest.read(ds / "manifest.csv")}
    assert rows["quarantine/a/1.png"]["status"] == "deleted" and rows["images/a/2.png"]["category"] == "a"
    assert clean.apply(ds) == Counter({"already applied": 2})
