"""inv data.fetch: every URL accounted for, retries, resume after Ctrl-C, quarantine respected."""

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from urllib.parse import urlsplit

import pytest
from conftest import REPO, run_inv
from imageserver import BAD, ImageServer

from fastcourse.data import fetch as fe
from fastcourse.data import manifest
from fastcourse.data import search as se


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
