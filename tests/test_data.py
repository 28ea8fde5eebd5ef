"""Issue 3: search with backoff, one-pass fetch against a real local server, resume, embedded data, cleaning."""

import csv
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from urllib.parse import urlsplit

import pytest
from ddgs.exceptions import RatelimitException

from fastcourse import embedded, fetch as fe, manifest, search as se
from imageserver import BAD, ImageServer
from conftest import REPO, closed_port_url


def test_search_writes_urls_with_query_and_title(tmp_path):
    """search should write one URL file per category with the query and title of each URL, deduplicated."""
    def fake(query, n):
        return [{"image": f"http://x/{query.split()[0]}/{i}.jpg", "title": f"a {query}\tresult"} for i in range(3)]

    files = se.search_categories(tmp_path, "birds", ["bird", "forest"], "{} photo,{} photo", 5, fake)
    lines = [l for l in files["bird"].read_text().splitlines() if not l.startswith("#")]
    assert lines == [f"http://x/bird/{i}.jpg\tbird photo\ta bird photo result" for i in range(3)]
    items = se.read_url_files(tmp_path / "data/birds/urls")
    assert Counter(i["category"] for i in items) == {"bird": 3, "forest": 3}


def test_search_backs_off_on_rate_limit_then_succeeds():
    """Two rate limits then success: two growing, jittered sleeps within the total bound."""
    calls, sleeps = [], []

    def flaky(query, n):
        calls.append(query)
        if len(calls) <= 2:
            raise RatelimitException("202 Ratelimit")
        return [{"image": "http://x/1.jpg", "title": "t"}]

    out = se.search_images(flaky, "bird photo", 10, sleep=sleeps.append, jitter=lambda: 0.5)
    assert out and len(calls) == 3
    assert len(sleeps) == 2 and sleeps[1] > sleeps[0] > 0
    assert sum(sleeps) <= se.MAX_WAIT


def test_search_gives_up_with_clear_error():
    """Always rate-limited: a bounded total sleep, then an error naming the query and the fixes."""
    sleeps = []

    def limited(query, n):
        raise RatelimitException("202 Ratelimit")

    with pytest.raises(se.SearchError) as e:
        se.search_images(limited, "crocodile photo", 10, sleep=sleeps.append, jitter=lambda: 1.0)
    assert sum(sleeps) <= se.MAX_WAIT and len(sleeps) < se.MAX_TRIES
    assert "'crocodile photo'" in str(e.value) and "--proxy" in str(e.value)


@pytest.mark.parametrize("task", ["data.search", "data.build"])
def test_search_offline_is_one_line_error(inv, tmp_path, task):
    """Offline (forced: ddgs' proxy is a closed local port), data.search and data.build should exit non-zero
    with one line pointing to the embedded dataset."""
    p = inv(task, "--name", "b", "--categories", "bird", home=tmp_path, timeout=120,
            env={"DDGS_PROXY": closed_port_url()})
    assert p.returncode != 0
    assert "embedded dataset" in p.stderr and len(p.stderr.strip().splitlines()) == 1


@pytest.fixture
def server():
    with ImageServer() as s:
        yield s


def url_file(tmp_path, server, good=range(10), dups=(), bad=BAD):
    path = tmp_path / "urls" / "thing.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"{server.url(f'/good/{i}.jpg')}\tthing photo\tgood {i}" for i in good]
    lines += [f"{server.url(f'/dup/{i}.jpg')}\tthing photo\tdup {i}" for i in dups]
    lines += [f"{server.url(p)}\tthing logo\tbad" for p in bad]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_fetch_accounts_for_every_url(tmp_path, server):
    """Good images are kept resized; duplicates and each kind of bad URL are recorded with the right reason."""
    items = se.read_url_files(url_file(tmp_path, server, dups=(1, 2)) .parent)
    rows = fe.fetch(tmp_path, "t", items, fe.FetchOptions(read_timeout=1.0, max_seconds=2.0, workers=8), progress=False)
    by_url = {r["url"]: r for r in rows}
    assert len(rows) == len(items) == 10 + 2 + len(BAD)
    for path, reason in BAD.items():
        assert by_url[server.url(path)]["status"] == "failed"
        assert reason in by_url[server.url(path)]["reason"], path
    assert Counter(r["status"] for r in rows) == {"kept": 10, "duplicate": 2, "failed": len(BAD)}
    kept = [r for r in rows if r["status"] == "kept"]
    from PIL import Image

    for r in kept:
        with Image.open(tmp_path / "data/t" / r["path"]) as im:
            assert max(im.size) == 400 and im.mode == "RGB"
            assert (int(r["width"]), int(r["height"])) == im.size
    files = list((tmp_path / "data/t/images/thing").iterdir())
    assert len(files) == 10 and not any(f.name.endswith(".part") for f in files)
    assert manifest.read(tmp_path / "data/t/manifest.csv") == [{k: str(r.get(k, "")) for k in manifest.FIELDS} for r in rows]


@pytest.mark.parametrize("path, status, reason, hits", [
    ("/flaky/1.jpg", "kept", "", 2),
    ("/busy.jpg", "failed", "HTTP 503", 2),
])
def test_fetch_retries_5xx_once(tmp_path, server, path, status, reason, hits):
    """An HTTP 5xx should be retried once, at once (an hour's Retry-After is not honoured), then recorded."""
    start = time.monotonic()
    [row] = fe.fetch(tmp_path, "t", [{"category": "c", "url": server.url(path)}], progress=False)
    assert (row["status"], row.get("reason", "")) == (status, reason)
    assert server.hits[path] == hits and time.monotonic() - start < 30


@pytest.mark.parametrize("url, reason", [
    ("ftp://example.com/a.jpg", "not an http(s) URL"),
    ("http://", "not a valid URL"),
    ("http://127.0.0.1:9/refused.jpg", "connection failed"),
])
def test_fetch_records_unusable_urls(tmp_path, caplog, url, reason):
    """A URL that cannot be fetched at all should be recorded as failed with a reason, not crash or log noise."""
    [row] = fe.fetch(tmp_path, "t", [{"category": "c", "url": url}], progress=False)
    assert row["status"] == "failed" and row["reason"] == reason
    assert not [r for r in caplog.records if r.name.startswith("urllib3")]  # retries go to the manifest


def test_fetch_task_resumes_after_ctrl_c(tmp_path):
    """Ctrl-C mid-fetch leaves no partial image and a consistent manifest; the re-run fetches only the rest."""
    with ImageServer(latency=0.25) as server:
        path = url_file(tmp_path, server, good=range(40), bad={})
        env = {**os.environ, "FASTCOURSE_HOME": str(tmp_path), "PYTHONUNBUFFERED": "1"}
        cmd = [sys.executable, "-m", "invoke", "-r", str(REPO), "data.fetch", "--name", "r",
               "--urls", str(path), "--workers", "2"]
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(4.5)
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=60)
        assert proc.returncode != 0
        ds = tmp_path / "data/r"
        first = manifest.read(ds / "manifest.csv")
        assert 0 < len(first) < 40
        files = {p.relative_to(ds).as_posix() for p in (ds / "images").rglob("*")if p.is_file()}
        assert not [f for f in files if f.endswith(".part") or "/." in f]
        assert files == {r["path"] for r in first if r["status"] == "kept"}
        hits_before = Counter(server.hits)
        p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, p.stderr
        rows = manifest.read(ds / "manifest.csv")
        assert sorted(r["url"] for r in rows) == sorted(server.url(f"/good/{i}.jpg") for i in range(40))
        for r in first:  # URLs recorded before Ctrl-C were not downloaded again
            path = urlsplit(r["url"]).path
            assert server.hits[path] == hits_before[path]
        assert "kept" in p.stdout and "manifest" in p.stdout


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


@pytest.mark.slow
def test_clean_report_and_apply(inv, tmp_path):
    """data.clean should write a report and decisions.csv; --apply quarantines and relabels, recorded in the manifest."""
    assert inv("train", "--epochs", "1", "--size", "32", "--no-pretrained", home=tmp_path).returncode == 0
    p = inv("data.clean", "--name", "digits", "--model", "models/digits", home=tmp_path)
    assert p.returncode == 0, p.stderr
    ds = tmp_path / "data/digits"
    for name in ("report.html", "top_losses.png", "queries.png", "decisions.csv"):
        assert (ds / "clean" / name).stat().st_size > 0
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
