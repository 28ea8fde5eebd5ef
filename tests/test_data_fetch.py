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
from helpers import hostile, ids
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
        while len(manifest.read(tmp_path / "data/r/manifest.csv")) < 1:  # some URLs are settled, most are not
            time.sleep(0.05)
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


@pytest.mark.parametrize("presses", [1, 2])
def test_ctrl_c_stops_a_slow_fetch_at_once_in_one_line(tmp_path, presses):
    """Ctrl-C (once, or twice in a row) while downloads hang on a slow server should end the run in one line
    without waiting for them, and with no traceback."""
    with ImageServer(slow_s=30) as server:
        path = url_file(tmp_path, server, good=range(3), bad={})  # then downloads that trickle for 30 s:
        path.write_text(path.read_text() + "".join(f"{server.base}/trickle.jpg?{i}\n" for i in range(8)))
        env = {**os.environ, "FASTCOURSE_HOME": str(tmp_path), "PYTHONUNBUFFERED": "1"}
        cmd = [sys.executable, "-m", "invoke", "-r", str(REPO), "data.fetch", "--name", "s", "--urls", str(path)]
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        while server.hits.get("/trickle.jpg", 0) < 8:  # every slow download has started
            time.sleep(0.1)
        stopped = time.monotonic()
        for _ in range(presses):
            proc.send_signal(signal.SIGINT)
            time.sleep(0.05)
        out, err = proc.communicate(timeout=60)
        waited = time.monotonic() - stopped
    assert waited < 15, f"waited {waited:.1f} s: the run waited for the hanging downloads (30 s)"
    assert proc.returncode == 1 and "Traceback" not in out + err
    assert err.strip().splitlines()[-1] == "interrupted — rerun to resume; nothing was lost"


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


HOSTILE = [  # (args, env, the line it ends with, the folder it may change)
    (["data.fetch", "--name", "x", "--workers", "0"], {}, "--workers 0 is out of range", None),
    (["data.fetch", "--name", "x", "--max-size", "0"], {}, "--max-size 0 is out of range", None),
    (["data.fetch", "--name", "..", "--urls", "urls"], {}, "--name '..' is not a plain name", None),
    (["data.fetch", "--name", "x", "--urls", "urls/bin.txt"], {}, "is not UTF-8 text", None),
    (["data.fetch", "--name", "x", "--urls", "urls/utf16.txt"], {}, "is UTF-16 text — save it as UTF-8", None),
    (["data.fetch", "--name", "x", "--urls", "nowhere"], {}, "no URL files", None),
    (["data.fetch", "--name", "linkout", "--urls", "urls/cats.txt"], {}, "images/cats is a link to", None),
    (["data.build", "--name", "b", "--categories", ","], {}, "--categories must name at least one category", None),
]


@pytest.mark.parametrize("args, env, message, owns", HOSTILE, ids=ids(HOSTILE))
def test_hostile_fetch(tmp_path, args, env, message, owns):
    """inv data.fetch with bad input should end in one line, and never write through a link out of the dataset."""
    hostile(tmp_path, args, env, message, owns)


@pytest.mark.parametrize("status, location, reason", [
    (302, "http://127.0.0.1:{other}/secret.png", "redirect to a local address (127.0.0.1:{other}) refused"),
    (301, "file:///etc/passwd", "redirect to a non-http(s) URL refused"),
    (302, "/{self_path}", "more than 5 redirects"),
])
def test_redirects_are_checked(tmp_path, status, location, reason):
    """A redirect should not lead to another local service, out of http(s), or round in circles."""
    from http.server import BaseHTTPRequestHandler

    from localserver import LocalServer

    class Redirect(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_GET(self):
            self.send_response(status)
            self.send_header("Location", location.format(other=other.port, self_path="loop.png"))
            self.send_header("Content-Length", "0")
            self.end_headers()

    with ImageServer() as other, LocalServer(Redirect) as server:
        rows = fe.fetch(tmp_path, "r", [{"category": "a", "url": f"{server.base}/loop.png", "query": "q"}],
                        progress=False)
        assert other.hits.get("/secret.png", 0) == 0
    assert rows[0]["status"] == "failed" and rows[0]["reason"] == reason.format(other=other.port)


def test_failure_reasons_name_no_python_objects(tmp_path):
    """A failed image's reason in the manifest should read as words, not as `<_io.BytesIO object at 0x...>`."""
    with pytest.raises(fe.Failed) as e:
        fe.process(b"GIF89a" + b"\0" * 20, fe.FetchOptions())
    assert "0x" not in str(e.value) and "object at" not in str(e.value)
    assert "object at" not in fe.plain("cannot identify image file <_io.BytesIO object at 0x7f3a2b1c>")


def test_a_full_disk_during_fetch_is_one_line_and_keeps_the_manifest(tmp_path):
    """With the disk full part-way (a real small file system, mounted as root), data.fetch should end in one
    line, and the manifest of what was fetched before should stay whole (mock-free: needs root to mount)."""
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=400k", "tmpfs", str(tmp_path)],
                                           capture_output=True).returncode:
        pytest.skip("mounting a small file system needs root")
    try:
        with ImageServer() as server:
            (tmp_path / "urls").mkdir()
            (tmp_path / "urls/a.txt").write_text("".join(f"{server.base}/good/{i}.jpg\n" for i in range(200)))
            p = run_inv("data.fetch", "--name", "d", "--urls", "urls", home=tmp_path, timeout=300)
        assert p.returncode == 1 and "Traceback" not in p.stderr, p.stderr[-2000:]
        assert "No space left on device" in p.stderr.strip().splitlines()[-1]
        assert "free disk space" in p.stderr.strip().splitlines()[-1]
        rows = manifest.read(tmp_path / "data/d/manifest.csv")
        assert all((tmp_path / "data/d" / r["path"]).stat().st_size > 0 for r in rows if r["status"] == "kept")
    finally:
        subprocess.run(["umount", str(tmp_path)], capture_output=True)
