"""A real local HTTP server (stdlib, in a thread) serving good and broken images for tests and bench."""

from __future__ import annotations

import io
import time
from collections import Counter
from functools import lru_cache
from http.server import BaseHTTPRequestHandler

import numpy as np
from localserver import LocalServer
from PIL import Image, ImageDraw

SLOW_S = 3.0  # /slow.jpg answers after this long


@lru_cache(maxsize=None)
def jpeg(i: int, size=(1024, 768)) -> bytes:
    """A distinct, deterministic photo-like JPEG (shapes plus sensor-like noise: ~150-250 KB, like a photo)."""
    im = Image.new("RGB", size, ((i * 37) % 256, (i * 91) % 256, (i * 53) % 256))
    d = ImageDraw.Draw(im)
    for k in range(12):
        x, y = (i * 97 + k * 131) % size[0], (i * 61 + k * 89) % size[1]
        d.ellipse((x, y, x + 120 + k * 9, y + 90 + k * 7), fill=((k * 41 + i) % 256, (k * 17) % 256, (i * 7) % 256))
    noise = np.random.default_rng(i).normal(0, 12, (size[1], size[0], 3))
    im = Image.fromarray(np.clip(np.asarray(im, dtype=np.float32) + noise, 0, 255).astype(np.uint8))
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=85)
    return buf.getvalue()


@lru_cache(maxsize=None)
def bomb() -> bytes:
    """A small PNG that decodes to 400 million pixels."""
    buf = io.BytesIO()
    Image.new("1", (20000, 20000)).save(buf, "PNG")
    return buf.getvalue()


class Handler(BaseHTTPRequestHandler):
    latency = 0.0
    slow_s = SLOW_S
    hits: Counter = Counter()

    def log_message(self, *args):  # quiet
        pass

    def send(self, code, body=b"", ctype="image/jpeg", length=True):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        if length:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        p = self.path.split("?")[0]
        self.hits[p] += 1
        time.sleep(self.latency)
        try:
            if p.startswith(("/good/", "/dup/")):
                self.send(200, jpeg(int(p.rsplit("/", 1)[1].split(".")[0])))
            elif p == "/truncated.jpg":
                self.send(200, jpeg(0)[: len(jpeg(0)) // 2])
            elif p == "/page.html":
                self.send(200, b"<html><body>not an image</body></html>", "text/html")
            elif p == "/garbage.jpg":
                self.send(200, b"this is not a jpeg at all" * 40)
            elif p == "/slow.jpg":
                time.sleep(self.slow_s)
                self.send(200, jpeg(1))
            elif p == "/trickle.jpg":  # headers at once, then a few bytes every half second
                body = jpeg(2)
                self.send_response(200)
                self.send_header("Content-Type", "image/jpeg")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                for k in range(int(self.slow_s * 2)):
                    self.wfile.write(body[k * 16:(k + 1) * 16])
                    self.wfile.flush()
                    time.sleep(0.5)
            elif p == "/stall.jpg":  # headers, half the body, then silence
                body = jpeg(3)
                self.send_response(200)
                self.send_header("Content-Type", "image/jpeg")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                time.sleep(self.slow_s)
            elif p == "/busy.jpg":  # always overloaded, asking to come back in an hour
                self.send_response(503)
                self.send_header("Retry-After", "3600")
                self.send_header("Content-Length", "0")
                self.end_headers()
            elif p.startswith("/flaky/"):  # overloaded on the first try only
                self.send(503, b"busy", "text/plain") if self.hits[p] == 1 else self.send(200, jpeg(11))
            elif p == "/bomb.png":
                self.send(200, bomb(), "image/png")
            elif p == "/huge.jpg":  # 60 MB, declared
                self.send_response(200)
                self.send_header("Content-Type", "image/jpeg")
                self.send_header("Content-Length", str(60 * 1024**2))
                self.end_headers()
                for _ in range(60):
                    self.wfile.write(b"\0" * 1024**2)
            elif p == "/huge-undeclared.jpg":  # 60 MB, no Content-Length
                self.send_response(200)
                self.send_header("Content-Type", "image/jpeg")
                self.send_header("Connection", "close")
                self.end_headers()
                for _ in range(60):
                    self.wfile.write(b"\0" * 1024**2)
            elif p.startswith("/redirect/"):
                n = int(p.rsplit("/", 1)[1])
                self.send_response(302)
                self.send_header("Location", f"/redirect/{n - 1}" if n > 1 else "/good/7.jpg")
                self.send_header("Content-Length", "0")
                self.end_headers()
            else:
                self.send(404, b"not found", "text/plain")
        except (BrokenPipeError, ConnectionResetError):
            pass


class ImageServer(LocalServer):
    """`with ImageServer(latency=0.05) as s: s.url('/good/1.jpg')`."""

    def __init__(self, latency: float = 0.0, slow_s: float = SLOW_S):
        handler = type("H", (Handler,), {"latency": latency, "slow_s": slow_s, "hits": Counter()})
        super().__init__(handler)
        self.hits = handler.hits
        bomb()  # built once up front: it takes a second

    def url(self, path: str) -> str:
        return self.base + path


BAD = {  # path -> the reason our fetch should record
    "/truncated.jpg": "unreadable image", "/page.html": "not an image", "/missing.jpg": "HTTP 404",
    "/garbage.jpg": "unreadable image", "/slow.jpg": "timeout", "/trickle.jpg": "too slow",
    "/stall.jpg": "timeout",
    "/bomb.png": "decompression bomb",
    "/huge.jpg": "larger than 20 MB", "/huge-undeclared.jpg": "larger than 20 MB",
    "/redirect/9": "more than 5 redirects",
}
