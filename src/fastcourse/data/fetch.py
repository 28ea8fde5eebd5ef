"""One-pass image acquisition: download -> verify -> RGB -> resize -> dedupe -> atomic write.

Every URL ends up in data/NAME/manifest.csv (kept, duplicate or failed, with the reason);
re-running skips URLs already there; Ctrl-C leaves no partial image and a consistent manifest.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import queue
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ..fileio import atomic_write_bytes
from ..images import MAX_PIXELS
from ..paths import dataset_dir, own_folders
from . import manifest


@dataclass
class FetchOptions:
    max_size: int = 400  # longer side of the stored image, pixels
    max_bytes: int = 20 * 1024**2  # download cap per URL
    max_pixels: int = MAX_PIXELS  # decompression-bomb limit (width x height)
    connect_timeout: float = 5.0  # seconds
    read_timeout: float = 4.0  # seconds without data (as fastai's download_images)
    max_seconds: float = 30.0  # cap on one whole download (a trickling server cannot hold a worker)
    max_redirects: int = 5
    retries: int = 1  # extra tries after connection errors and HTTP 5xx
    workers: int = 32  # concurrent downloads (decoding uses one more thread per core)
    quality: int = 90  # JPEG quality of the stored images


DUPLICATE = "same content as an image already kept"
DELETED_TWIN = "same content as an image deleted while cleaning"
USER_AGENT = "fastcourse/0.1 (+image fetch for fast.ai course)"


class Failed(Exception):
    """Why one URL could not become an image (the manifest's reason)."""


@lru_cache(maxsize=4)
def _pool(workers: int):
    """A thread-safe connection pool per worker count, reused by later runs in this process (urllib3:
    half the CPU per URL of requests)."""
    import urllib3

    logging.getLogger("urllib3.connectionpool").setLevel(logging.ERROR)  # retries are in the manifest, not stderr
    return urllib3.PoolManager(maxsize=workers, headers={"User-Agent": USER_AGENT})


REDIRECTS = (301, 302, 303, 307, 308)


def download(url: str, opts: FetchOptions) -> bytes:
    """GET an http(s) image with timeouts, a byte cap, retries, and at most `max_redirects` redirects, each
    checked: a redirect may not lead to another service on a local or private address."""
    from urllib.parse import urljoin

    if not url.lower().startswith(("http://", "https://")):
        raise Failed("not an http(s) URL")
    first = url
    for _ in range(opts.max_redirects + 1):
        r = _get(url, opts)
        location = r.headers.get("Location") if r.status in REDIRECTS else None
        if not location:
            return _body(r, opts)
        r.close()
        r.release_conn()
        url = urljoin(url, location)
        check_redirect(first, url)
    raise Failed(f"more than {opts.max_redirects} redirects")


def check_redirect(first: str, target: str) -> None:
    """Failed when a redirect leaves http(s), or leads to a local or private address other than where the
    download started (a web page must not make the kit fetch from the learner's own network)."""
    import ipaddress
    import socket
    from urllib.parse import urlsplit

    a, b = urlsplit(first), urlsplit(target)
    if b.scheme.lower() not in ("http", "https"):
        raise Failed("redirect to a non-http(s) URL refused")
    port = lambda u: u.port or (443 if u.scheme.lower() == "https" else 80)  # noqa: E731
    if (b.hostname, port(b)) == (a.hostname, port(a)):
        return
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(b.hostname, port(b), proto=socket.IPPROTO_TCP)}
    except (OSError, UnicodeError):
        return  # it cannot be reached either; the request says so
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%")[0])
        if ip.is_loopback or ip.is_private or ip.is_link_local or ip.is_unspecified or ip.is_reserved:
            raise Failed(f"redirect to a local address ({b.hostname}:{port(b)}) refused")


def _get(url: str, opts: FetchOptions):
    """One GET (connection errors and HTTP 5xx retried `retries` times; redirects returned, not followed)."""
    import urllib3
    from urllib3.exceptions import HTTPError, LocationValueError, MaxRetryError

    retry = urllib3.Retry(total=None, connect=opts.retries, read=0, other=0, redirect=0, raise_on_redirect=False,
                          status=opts.retries, status_forcelist=range(500, 600), raise_on_status=False,
                          respect_retry_after_header=False)  # a 'Retry-After: 3600' must not stall the run
    timeout = urllib3.Timeout(connect=opts.connect_timeout, read=opts.read_timeout)
    try:
        return _pool(opts.workers).request("GET", url, retries=retry, timeout=timeout, preload_content=False,
                                           redirect=False)
    except MaxRetryError as e:
        raise _failure(e.reason, opts)
    except LocationValueError:
        raise Failed("not a valid URL")
    except HTTPError as e:
        raise _failure(e, opts)


def _body(r, opts: FetchOptions) -> bytes:
    """The image bytes of a response, or Failed with why not."""
    from urllib3.exceptions import ProtocolError, TimeoutError

    ok = False
    try:
        if r.status != 200:
            raise Failed(f"HTTP {r.status}")
        ctype = r.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if not ctype.startswith("image/"):
            raise Failed(f"not an image (Content-Type {ctype[:40] or 'missing'})")
        if int(r.headers.get("Content-Length") or 0) > opts.max_bytes:
            raise Failed(f"larger than {opts.max_bytes // 1024**2} MB")
        body, ok = _read_body(r, opts), True
        return body
    except (TimeoutError, ProtocolError) as e:  # raised while reading the body
        raise _failure(e, opts, "connection broke off during the download")
    except ValueError:  # a Content-Length that is not a number
        raise Failed("malformed response (Content-Length)")
    finally:
        if not ok:
            r.close()  # a half-read connection goes back closed (the pool reconnects)
        r.release_conn()


def _failure(e, opts: FetchOptions, broken: str = "connection failed") -> Failed:
    """The manifest's reason for a urllib3 error (a slow server stays slow: no retry)."""
    from urllib3.exceptions import ConnectTimeoutError, NewConnectionError, TimeoutError

    if isinstance(e, NewConnectionError):  # (a subclass of ConnectTimeoutError in urllib3)
        return Failed(broken)
    if isinstance(e, ConnectTimeoutError):
        return Failed(f"timeout (no connection in {opts.connect_timeout:.0f} s)")
    if isinstance(e, TimeoutError):
        return Failed(f"timeout (no data for {opts.read_timeout:.0f} s)")
    return Failed(broken)


def _read_body(r, opts: FetchOptions) -> bytes:
    """The body within the byte cap and the total deadline, reading whatever each recv brings."""
    buf, deadline = bytearray(), time.monotonic() + opts.max_seconds
    while chunk := r.read1(1 << 20):  # returns as soon as bytes arrive
        buf += chunk
        if len(buf) > opts.max_bytes:
            raise Failed(f"larger than {opts.max_bytes // 1024**2} MB")
        if time.monotonic() > deadline:  # a trickling server cannot hold a worker
            raise Failed(f"too slow (over {opts.max_seconds:.0f} s in all)")
    return bytes(buf)


def process(raw: bytes, opts: FetchOptions) -> tuple[bytes, int, int]:
    """Decode and verify with Pillow, convert to RGB, shrink to max_size; returns JPEG bytes and size."""
    from PIL import Image

    try:
        im = Image.open(io.BytesIO(raw))
        if im.width * im.height > opts.max_pixels:
            raise Failed(f"decompression bomb ({im.width}x{im.height} pixels)")
        scale = opts.max_size / max(im.size)
        if scale < 1:  # JPEG: decode straight at a reduced scale that still covers max_size
            im.draft("RGB", (max(1, int(im.width * scale)), max(1, int(im.height * scale))))
        im.load()  # full decode: truncated or corrupt files fail here
        im = im.convert("RGB")
    except Failed:
        raise
    except Image.DecompressionBombError as e:
        raise Failed(f"decompression bomb ({str(e)[:60]})")
    except Image.UnidentifiedImageError:
        raise Failed("unreadable image (not a format Pillow knows)")
    except (OSError, ValueError, SyntaxError) as e:
        raise Failed(f"unreadable image ({type(e).__name__}: {plain(str(e))[:60]})")
    im.thumbnail((opts.max_size, opts.max_size), Image.Resampling.BILINEAR)
    out = io.BytesIO()
    im.save(out, "JPEG", quality=opts.quality)
    return out.getvalue(), im.width, im.height


def plain(text: str) -> str:
    """An exception's text as a reason a learner can read: Python object reprs and line breaks removed."""
    import re

    return re.sub(r"<[^<>]* at 0x[0-9a-fA-F]+>", "the downloaded bytes", " ".join(text.split()))


def _settle(row: dict, step) -> dict:
    """Run step(row); a failure becomes the row's status and reason instead of an exception."""
    try:
        step(row)
    except Failed as e:
        row.update(status="failed", reason=str(e))
    except Exception as e:  # a bug or an odd server must not stop the run
        row.update(status="failed", reason=f"{type(e).__name__}: {plain(str(e))[:80]}")
    return row


def _download(item: dict, opts: FetchOptions) -> dict:
    """Stage 1 (I/O threads): fetch one URL; the row carries the raw bytes or the failure."""
    def step(row):
        row["raw"] = download(item["url"], opts)
        row["sha256"] = hashlib.sha256(row["raw"]).hexdigest()

    return _settle({k: item.get(k, "") for k in ("category", "url", "query")}, step)


def _process(row: dict, opts: FetchOptions) -> dict:
    """Stage 2 (one thread per core): decode, verify, resize."""
    def step(row):
        row["jpeg"], row["width"], row["height"] = process(row.pop("raw"), opts)
        row["status"] = "kept"

    return _settle(row, step)


def fetch(root: Path, name: str, items: list[dict], opts: FetchOptions | None = None,
          progress: bool = True, retry_failed: bool = False) -> list[dict]:
    """Fetch every URL not yet in the manifest (and, with retry_failed, those that failed); returns the rows.

    One run at a time per dataset (a second one fails at once with BusyError). Rows of images deleted
    or relabeled while cleaning are kept as they are, and the same bytes are not fetched back.
    """
    ds = dataset_dir(root, name)
    own_folders(ds, ds / "images", *{ds / "images" / it["category"] for it in items})  # no link leads out
    with manifest.locked(ds):
        rows = manifest.read(ds / "manifest.csv")
        if retry_failed:
            rows = [r for r in rows if r["status"] != "failed"]
        return _fetch(ds, name, rows, items, opts or FetchOptions(), progress)


def _fetch(ds: Path, name: str, rows: list[dict], items: list[dict], opts: FetchOptions, progress: bool):
    """The pipeline: `workers` I/O threads hand bytes to one image thread per core, so a slow server
    never holds up decoding, and decoding never holds up downloads."""
    from tqdm.auto import tqdm

    done = {r["url"] for r in rows}
    kept = {r["sha256"] for r in rows if r["status"] == "kept"}
    deleted = {r["sha256"] for r in rows if r["status"] == "deleted"} - kept
    waiting: dict[str, list[dict]] = {}  # sha256 being processed -> later rows with the same bytes
    todo = list({it["url"]: it for it in reversed(items) if it["url"] not in done}.values())[::-1]
    bar = tqdm(total=len(todo), desc=f"fetch {name}", unit="url", disable=not progress)
    io_pool, cpu_pool = ThreadPoolExecutor(opts.workers), ThreadPoolExecutor(os.cpu_count() or 2)
    results: queue.Queue = queue.Queue()  # finished futures, in completion order
    submit = lambda pool, fn, arg: pool.submit(fn, arg, opts).add_done_callback(results.put)  # noqa: E731
    for it in todo:
        submit(io_pool, _download, it)
    pending = len(todo)  # URLs not yet settled

    def record(row):
        nonlocal pending
        rows.append(_record(ds, row))
        pending -= 1
        bar.update()
        if len(rows) % 25 == 0:
            manifest.write(ds / "manifest.csv", rows)

    try:
        while pending:
            row = results.get().result()
            sha = row.get("sha256")
            if "raw" in row and sha in deleted:
                row.pop("raw")
                row.update(status="deleted", reason=DELETED_TWIN)
            elif "raw" in row and (sha in kept or sha in waiting):
                row.pop("raw")
                if sha in waiting:  # same bytes as one being processed: settle it with that one
                    waiting[sha].append(row)
                    continue
                row.update(status="duplicate", reason=DUPLICATE)
            elif "raw" in row:
                waiting[sha] = []
                submit(cpu_pool, _process, row)
                continue
            record(row)
            for twin in waiting.pop(sha, []) if sha else []:  # same bytes: same outcome
                twin.update(**({"status": "duplicate", "reason": DUPLICATE} if row["status"] == "kept"
                               else {"status": "failed", "reason": row["reason"]}))
                record(twin)
            if row["status"] == "kept":
                kept.add(sha)
    finally:  # normal end, Ctrl-C or error: stop queued work, keep what is done
        for pool in (io_pool, cpu_pool):
            pool.shutdown(wait=False, cancel_futures=True)
        manifest.write(ds / "manifest.csv", rows)
        bar.close()
    return rows


def _record(ds: Path, row: dict) -> dict:
    """Write a kept image atomically (temp file + rename); returns the manifest row."""
    jpeg = row.pop("jpeg", None)
    if row["status"] == "kept":
        rel = Path("images") / row["category"] / f"{row['sha256'][:16]}.jpg"
        atomic_write_bytes(ds / rel, jpeg)
        row["path"] = rel.as_posix()
    return row
