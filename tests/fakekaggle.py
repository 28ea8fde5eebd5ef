"""A local stand-in for the Kaggle API (kagglesdk's TEST environment is http://localhost:7777)."""

import io
import json
import zipfile
from http.server import BaseHTTPRequestHandler

import pytest
from localserver import LocalServer, _Server

SECRET = "KGAT_secretvalue0123456789"


def titanic_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("train.csv", "PassengerId,Survived\n1,0\n2,1\n")
        z.writestr("test.csv", "PassengerId\n3\n")
    return buf.getvalue()


class FakeKaggle(LocalServer):
    """Kaggle's API as kagglesdk calls it: POST .../DownloadDataFiles redirects to the zip, or refuses.

    `body` replaces the titanic zip; `mode` "hang" accepts the POST and never answers, "drip" sends the zip's
    headers and then a byte now and then (a server that keeps the connection alive without progress).
    """

    def __init__(self, refuse: int | None = None, body: bytes | None = None, mode: str = "ok"):
        import time

        outer = self
        self.calls = []

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.calls.append(self.path)
                if mode == "hang":
                    time.sleep(60)
                    return
                if refuse:
                    body = json.dumps({"code": refuse, "message": "refused"}).encode()
                    self.send_response(refuse)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                self.send_response(302)
                self.send_header("Location", "http://localhost:7777/files/titanic.zip")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self):
                data = body if body is not None else titanic_zip()
                self.send_response(200)
                self.send_header("Content-Type", "application/zip")
                self.send_header("Content-Length", str(len(data) + (10**6 if mode == "drip" else 0)))
                self.end_headers()
                if mode == "drip":  # a first chunk, then nothing more for a long while
                    self.wfile.write(data[:100])
                    self.wfile.flush()
                    time.sleep(60)
                    return
                self.wfile.write(data)

        try:
            self.httpd = _Server(("127.0.0.1", 7777), Handler)
        except OSError:
            pytest.skip("port 7777 (the kaggle client's TEST endpoint) is in use on this machine")
        self.httpd.daemon_threads = True


def kaggle_env(home, **creds):
    """A learner's environment with its own HOME and the client pointed at the local fake API."""
    env = {"HOME": str(home), "KAGGLE_API_ENVIRONMENT": "TEST", "KAGGLE_CONFIG_DIR": None, "KAGGLE_API_TOKEN": None,
           "KAGGLE_USERNAME": None, "KAGGLE_KEY": None, "XDG_CONFIG_HOME": None, "NO_PROXY": "localhost,127.0.0.1",
           "no_proxy": "localhost,127.0.0.1"}
    return {**env, **creds}


LEGACY = {"KAGGLE_USERNAME": "learner", "KAGGLE_KEY": SECRET}
