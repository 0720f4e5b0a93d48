"""The in-app inbox's live stream (server-sent events) over real HTTP."""

from __future__ import annotations

import json
import socket
import threading
import time

import httpx
import uvicorn

from signalhub.core.db import session_scope
from signalhub.core.time import utcnow
from signalhub.models import Notification, NotificationMessage
from tests.helpers import auth_headers


def _notify(user_id: int, key: str) -> None:
    with session_scope() as session:
        session.add(Notification(user_id=user_id, dedup_key=key, kind="notice", created_at=utcnow(),
                                 message=NotificationMessage(key=f"n:{key}", title=f"hello {key}", body="b")))


def test_stream_sends_new_notifications_and_only_the_owners(client):
    from signalhub.main import create_app

    ann = auth_headers(client, "ann@example.com")
    bob = auth_headers(client, "bob@example.com")
    ann_id = client.get("/api/v1/users/me", headers=ann).json()["id"]
    bob_id = client.get("/api/v1/users/me", headers=bob).json()["id"]
    _notify(ann_id, "before")  # already there when the stream opens: not replayed without Last-Event-ID

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(create_app(), log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    events = []
    try:
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/api/v1/users/alerts/stream"
        with httpx.stream("GET", url, headers=ann, params={"poll_seconds": 0.2}, timeout=10) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            _notify(bob_id, "bobs")
            _notify(ann_id, "new")
            for line in response.iter_lines():
                if line.startswith("data:"):
                    events.append(json.loads(line[5:]))
                    break
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    assert [e["title"] for e in events] == ["hello new"]
    assert client.get("/api/v1/users/alerts/stream").status_code == 401
