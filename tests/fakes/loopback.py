"""The HTTP scaffolding the loopback fakes share: a threaded server on 127.0.0.1 answering POSTs."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# status, body, content type, extra headers
Answer = tuple[int, bytes, str, dict[str, str]]
Handle = Callable[[str, dict[str, str], bytes], Answer]


@contextmanager
def serve_post(handle: Handle) -> Iterator[str]:
    """Serve POSTs with `handle(path, lower-cased headers, body)` on an ephemeral port; yield the base URL."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_: Any) -> None:
            return

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            status, body, content_type, extra = handle(self.path, {k.lower(): v for k, v in self.headers.items()},
                                                       raw)
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            for name, value in extra.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
