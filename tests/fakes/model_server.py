"""A misbehaving stand-in for the model server, to test the platform's timeouts, retries and breaker.

It speaks the model server's HTTP contract (GET /model, POST /api/predict/batch) on loopback, and can
answer slowly, with garbage, or with 500s. The happy path is tested against the real model server."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class MisbehavingModelServer:
    """Serves a fixed model description, then misbehaves on predictions as `mode` says."""

    def __init__(self, symbols: list[str], features: list[str], horizon: int, mode: str,
                 delay: float = 0.0) -> None:
        self.info = {"model_version": "fake-1", "symbols": symbols, "features": features, "horizon": horizon}
        self.mode = mode  # "slow", "garbage", "wrong_shape", "error"
        self.delay = delay
        self.requests: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: Any) -> None:
                return

            def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                server.requests.append(f"GET {self.path}")
                self._send(200, json.dumps(server.info).encode())

            def do_POST(self) -> None:
                server.requests.append(f"POST {self.path}")
                length = int(self.headers.get("Content-Length", 0))
                items = json.loads(self.rfile.read(length))["items"]
                if server.mode == "slow":
                    time.sleep(server.delay)
                if server.mode == "garbage":
                    self._send(200, b"<html>definitely not json", "text/html")
                elif server.mode == "wrong_shape":
                    body = {"predictions": [{"symbol": i["symbol"], "direction": "sideways", "confidence": 7}
                                            for i in items], "model_version": "fake-1"}
                    self._send(200, json.dumps(body).encode())
                elif server.mode == "error":
                    self._send(500, b'{"error": "boom"}')
                else:
                    body = {"predictions": [{"symbol": i["symbol"], "direction": "up", "confidence": 0.9,
                                             "predicted_return": 0.01, "model_version": "fake-1"} for i in items],
                            "model_version": "fake-1"}
                    self._send(200, json.dumps(body).encode())

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"

    @contextmanager
    def running(self) -> Iterator[MisbehavingModelServer]:
        """Serve in a background thread for the duration of the block."""
        thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._httpd.shutdown()
            self._httpd.server_close()
