"""A stdlib HTTP server on 127.0.0.1 in a background thread, as a context manager."""

import threading
from http.server import ThreadingHTTPServer


class _Server(ThreadingHTTPServer):
    request_queue_size = 128  # listen backlog as a real server has (stdlib default 5 drops bursts of connects)


class LocalServer:
    """Serve `handler` on a free loopback port while the `with` block runs."""

    def __init__(self, handler):
        self.httpd = _Server(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True

    @property
    def port(self) -> int:
        return self.httpd.server_address[1]

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self):
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
