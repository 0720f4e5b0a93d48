"""A real HTTP model server on 127.0.0.1 and an ephemeral port, run by uvicorn in a background thread."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import pytest
import uvicorn

from model_server.main import create_app
from model_server.model import DEFAULT_ARTIFACT_DIR


@contextmanager
def serve(artifact_dir: Path) -> Iterator[httpx.Client]:
    """Serve `create_app(artifact_dir)` over HTTP; yield a client bound to it; shut down cleanly."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(create_app(artifact_dir), log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("model server did not start")
        time.sleep(0.01)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            yield client
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
        assert not thread.is_alive(), "model server did not stop"


@pytest.fixture(scope="module")
def shipped() -> Iterator[httpx.Client]:
    """The server on the artifact shipped in the repository."""
    with serve(DEFAULT_ARTIFACT_DIR) as client:
        yield client


@pytest.fixture
def server_on() -> Iterator[Callable[[Path], httpx.Client]]:
    """Start servers on other artifact directories; all stop when the test ends."""
    with ExitStack() as stack:
        yield lambda artifact_dir: stack.enter_context(serve(artifact_dir))
