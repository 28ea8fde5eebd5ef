"""Benchmark: `fastcourse.fetch` against fastai's download_images + resize_images + verify_images.

Usage: python bench/fetch_vs_fastai.py
Same URL list from a local HTTP server in its own process, as a real server is (50 ms latency per
request; a listen backlog of 128): 300 good 1024x768 JPEGs and
30 bad URLs (duplicates, truncated, HTML, 404, slow beyond the timeout, decompression bomb,
60 MB bodies, redirect loops). Target: >= 3x faster, every URL accounted for in the manifest.
"""

import multiprocessing as mp
import sys
import tempfile
import time
import warnings
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
warnings.simplefilter("ignore")

from imageserver import BAD, ImageServer, jpeg  # noqa: E402

from fastcourse.data.fetch import FetchOptions  # noqa: E402

GOOD, DUPS = 300, 10


def url_list(server):
    urls = [("good", server.url(f"/good/{i}.jpg")) for i in range(GOOD)]
    urls += [("dup", server.url(f"/dup/{i}.jpg")) for i in range(DUPS)]
    bad = [b for b in BAD if b not in ("/trickle.jpg", "/stall.jpg")]  # the cases: slow = slow to answer
    urls += [("bad", server.url(f"{bad[i % len(bad)]}?n={i}")) for i in range(30 - DUPS)]
    return urls


def ours(urls, root):
    from fastcourse.data import fetch as fe

    items = [{"category": "thing", "url": u, "query": kind} for kind, u in urls]
    start = time.perf_counter()
    rows = fe.fetch(root, "bench", items, progress=False)
    return time.perf_counter() - start, rows


def fastai(urls, root):
    from fastai.vision.all import download_images, get_image_files, resize_images, verify_images

    raw, out = root / "raw", root / "resized"
    start = time.perf_counter()
    download_images(raw, urls=[u for _, u in urls])
    resize_images(raw, max_size=400, dest=out)
    failed = verify_images(get_image_files(out))
    failed.map(Path.unlink)
    return time.perf_counter() - start, len(get_image_files(out))


def serve(base, stop):
    """Child process: build the images, serve them, tell the parent the address."""
    for i in range(GOOD):
        jpeg(i)  # built before timing starts
    with ImageServer(latency=0.05, slow_s=15) as server:
        base.put(server.base)
        stop.wait()


class Remote:
    """The parent's handle on the child's server."""

    def __init__(self, base):
        self.base = base

    def url(self, path):
        return self.base + path


def main():
    ctx = mp.get_context("fork")
    base, stop = ctx.Queue(), ctx.Event()
    ctx.Process(target=serve, args=(base, stop), daemon=True).start()
    server = Remote(base.get(timeout=120))
    try:
        urls = url_list(server)
        t_ours, rows = ours(urls, Path(tempfile.mkdtemp()))
        t_peer, peer_kept = fastai(urls, Path(tempfile.mkdtemp()))
        quick = [(k, u) for k, u in urls if "/slow.jpg" not in u]  # both sides wait out the 4 s timeout on these
        q_ours, _ = ours(quick, Path(tempfile.mkdtemp()))
        q_peer, _ = fastai(quick, Path(tempfile.mkdtemp()))
    finally:
        stop.set()
    print(f"without the slow-to-answer URLs: ours {q_ours:.1f} s, fastai {q_peer:.1f} s, {q_peer / q_ours:.1f}x")
    status = Counter(r["status"] for r in rows)
    accounted = len({r["url"] for r in rows}) == len(urls)
    print(f"ours: {t_ours:.1f} s, manifest {len(rows)}/{len(urls)} URLs: {dict(status)}")
    print(f"fastai download_images+resize_images+verify_images: {t_peer:.1f} s, {peer_kept} images "
          f"(duplicates kept, failures unrecorded)")
    print(f"floor: a URL slow beyond the timeout costs both sides their {FetchOptions.read_timeout:.0f} s read timeout "
          f"(fastai's default too), so ours >= {FetchOptions.read_timeout:.0f} s and the ratio <= "
          f"{t_peer / FetchOptions.read_timeout:.1f}x here")
    print(f"ratio: ours {t_peer / t_ours:.1f}x faster (target >= 3x), every URL accounted for: {accounted}")


if __name__ == "__main__":
    main()
