"""One-pass image acquisition: download -> verify -> RGB -> resize -> dedupe -> atomic write.

Every URL ends up in data/NAME/manifest.csv (kept, duplicate or failed, with the reason);
re-running skips URLs already there; Ctrl-C leaves no partial image and a consistent manifest.
"""

from __future__ import annotations

import hashlib
import io
import threading
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

from . import manifest
from .util import atomic_write_bytes


@dataclass
class FetchOptions:
    max_size: int = 400  # longer side of the stored image, pixels
    max_bytes: int = 20 * 1024**2  # download cap per URL
    max_pixels: int = 50_000_000  # decompression-bomb limit (width x height)
    connect_timeout: float = 5.0  # seconds
    read_timeout: float = 10.0  # seconds between bytes, and the cap on one whole download
    max_redirects: int = 5
    retries: int = 1  # extra tries after connection errors and 5xx
    workers: int = 16  # concurrent downloads
    quality: int = 90  # JPEG quality of the stored images


class Failed(Exception):
    """Why one URL could not become an image (the manifest's reason)."""


_local = threading.local()


def _session(opts: FetchOptions):
    import requests

    if not hasattr(_local, "session"):
        _local.session = requests.Session()
        _local.session.max_redirects = opts.max_redirects
        _local.session.headers["User-Agent"] = "fastcourse/0.1 (+image fetch for fast.ai course)"
    return _local.session


def download(url: str, opts: FetchOptions) -> bytes:
    """GET an http(s) image with timeouts, a byte cap, bounded redirects and retries."""
    import time

    import requests

    if not url.lower().startswith(("http://", "https://")):
        raise Failed("not an http(s) URL")
    for attempt in range(opts.retries + 1):
        try:
            with _session(opts).get(url, stream=True, timeout=(opts.connect_timeout, opts.read_timeout)) as r:
                if r.status_code >= 500 and attempt < opts.retries:
                    continue
                if r.status_code != 200:
                    raise Failed(f"HTTP {r.status_code}")
                ctype = r.headers.get("Content-Type", "").split(";")[0].strip().lower()
                if not ctype.startswith("image/"):
                    raise Failed(f"not an image (Content-Type {ctype or 'missing'})")
                if int(r.headers.get("Content-Length") or 0) > opts.max_bytes:
                    raise Failed(f"larger than {opts.max_bytes // 1024**2} MB")
                buf, deadline = bytearray(), time.monotonic() + opts.read_timeout
                for chunk in r.iter_content(65536):
                    buf += chunk
                    if len(buf) > opts.max_bytes:
                        raise Failed(f"larger than {opts.max_bytes // 1024**2} MB")
                    if time.monotonic() > deadline:
                        raise Failed(f"too slow (over {opts.read_timeout:.0f} s)")
                return bytes(buf)
        except requests.TooManyRedirects:
            raise Failed(f"more than {opts.max_redirects} redirects")
        except (requests.Timeout, requests.ConnectionError) as e:
            if attempt == opts.retries:
                raise Failed(f"{'timeout' if isinstance(e, requests.Timeout) else 'connection failed'}")
        except requests.RequestException as e:
            raise Failed(f"request failed ({type(e).__name__})")
    raise Failed("HTTP 5xx")


def process(raw: bytes, opts: FetchOptions) -> tuple[bytes, int, int]:
    """Decode and verify with Pillow, convert to RGB, shrink to max_size; returns JPEG bytes and size."""
    from PIL import Image

    try:
        im = Image.open(io.BytesIO(raw))
        if im.width * im.height > opts.max_pixels:
            raise Failed(f"decompression bomb ({im.width}x{im.height} pixels)")
        im.draft("RGB", (opts.max_size, opts.max_size))  # JPEG: decode at reduced scale, much faster
        im.load()  # full decode: truncated or corrupt files fail here
        im = im.convert("RGB")
    except Failed:
        raise
    except Image.DecompressionBombError as e:
        raise Failed(f"decompression bomb ({str(e)[:60]})")
    except (OSError, ValueError, SyntaxError) as e:
        raise Failed(f"unreadable image ({type(e).__name__}: {str(e)[:60]})")
    im.thumbnail((opts.max_size, opts.max_size), Image.Resampling.BILINEAR)
    out = io.BytesIO()
    im.save(out, "JPEG", quality=opts.quality)
    return out.getvalue(), im.width, im.height


def _one(item: dict, opts: FetchOptions) -> dict:
    """Download and process one URL in a worker thread; never raises."""
    row = {k: item.get(k, "") for k in ("category", "url", "query")}
    try:
        raw = download(item["url"], opts)
        row["sha256"] = hashlib.sha256(raw).hexdigest()
        row["jpeg"], row["width"], row["height"] = process(raw, opts)
        row["status"] = "kept"
    except Failed as e:
        row.update(status="failed", reason=str(e))
    except Exception as e:  # a bug or an odd server must not stop the run
        row.update(status="failed", reason=f"{type(e).__name__}: {str(e)[:80]}")
    return row


def fetch(root: Path, name: str, items: list[dict], opts: FetchOptions | None = None,
          progress: bool = True) -> list[dict]:
    """Fetch every URL not yet in the manifest; returns the manifest's rows."""
    from tqdm.auto import tqdm

    opts = opts or FetchOptions()
    ds = manifest.dataset_dir(root, name)
    rows = manifest.read(ds / "manifest.csv")
    done = {r["url"] for r in rows}
    hashes = {r["sha256"] for r in rows if r["status"] == "kept"}
    todo, seen = [], set()
    for it in items:
        if it["url"] not in done and it["url"] not in seen:
            seen.add(it["url"])
            todo.append(it)
    bar = tqdm(total=len(todo), desc=f"fetch {name}", unit="url", disable=not progress)
    pool = ThreadPoolExecutor(opts.workers)
    pending = {pool.submit(_one, it, opts) for it in todo}
    try:
        while pending:
            finished, pending = wait(pending, timeout=1.0, return_when=FIRST_COMPLETED)
            for fut in finished:
                rows.append(_record(ds, fut.result(), hashes))
                bar.update()
            if finished and len(rows) % 25 < len(finished):
                manifest.write(ds / "manifest.csv", rows)
    finally:  # normal end, Ctrl-C or error: stop queued work, keep what is done
        pool.shutdown(wait=False, cancel_futures=True)
        manifest.write(ds / "manifest.csv", rows)
        bar.close()
    return rows


def _record(ds: Path, row: dict, hashes: set) -> dict:
    """Write a kept image (atomically) unless its content was already kept; returns the manifest row."""
    jpeg = row.pop("jpeg", None)
    if row["status"] == "kept":
        if row["sha256"] in hashes:
            row.update(status="duplicate", reason="same content as an image already kept")
        else:
            rel = Path("images") / row["category"] / f"{row['sha256'][:16]}.jpg"
            atomic_write_bytes(ds / rel, jpeg)
            hashes.add(row["sha256"])
            row["path"] = rel.as_posix()
    return row
