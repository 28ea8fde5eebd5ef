"""inv data.embedded: the offline digits, written without network, cleaning decisions kept."""

import shutil
from collections import Counter
from pathlib import Path

from conftest import run_inv

from fastcourse.data import embedded, manifest


def test_embedded_dataset_offline(inv, tmp_path):
    """data.embedded should write sklearn's digits of the chosen classes with matching counts and manifest."""
    from sklearn.datasets import load_digits

    p = inv("data.embedded", "--classes", "3,7,9", home=tmp_path)
    assert p.returncode == 0, p.stderr
    want = Counter(str(t) for t in load_digits().target if t in (3, 7, 9))
    images = tmp_path / "data" / embedded.NAME / "images"
    assert {d.name: len(list(d.glob("*.png"))) for d in images.iterdir()} == want
    rows = manifest.read(tmp_path / "data" / embedded.NAME / "manifest.csv")
    assert Counter(r["category"] for r in rows) == want and {r["status"] for r in rows} == {"kept"}
    bad = inv("data.embedded", "--classes", "3,x", home=tmp_path)
    assert bad.returncode != 0 and "0..9" in bad.stderr


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
