"""System notices to one user or to every admin: inbox plus channels, once per event, never to others."""

from __future__ import annotations

from email import message_from_bytes, policy
from pathlib import Path

from sqlalchemy import select

from signalhub.core.db import session_scope
from signalhub.models.notification_delivery import NotificationDelivery
from signalhub.models.user import User, UserRole
from signalhub.notifications import tasks
from signalhub.notifications.service import notify_admins, notify_user
from tests.helpers import auth_headers


def _channel(client, headers, kind: str, config: dict) -> int:
    r = client.post("/api/v1/notifications/channels", headers=headers, json={"kind": kind, "name": kind,
                                                                             "config": config})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def _user_id(db_session, email: str) -> int:
    return db_session.scalar(select(User.id).where(User.email == email))


def test_notice_reaches_inbox_and_channels_once(client, db_session, tmp_dir):
    ann, bob = auth_headers(client, "ann@example.com"), auth_headers(client, "bob@example.com")
    _channel(client, ann, "email", {"address": "ann@example.com"})
    _channel(client, bob, "email", {"address": "bob@example.com"})
    ann_id = _user_id(db_session, "ann@example.com")

    with session_scope() as session:
        first = notify_user(session, ann_id, dedup_key="order-filled:7", title="✅ Order filled",
                            body="BUY 10 005930 @ 71,200", data={"order_id": 7})
        again = notify_user(session, ann_id, dedup_key="order-filled:7", title="✅ Order filled", body="dup")
    assert first is not None and again is None

    inbox = client.get("/api/v1/users/alerts", headers=ann).json()
    assert inbox["total"] == 1 and inbox["items"][0]["title"] == "✅ Order filled"
    assert client.get("/api/v1/users/alerts", headers=bob).json()["total"] == 0

    due = list(db_session.scalars(select(NotificationDelivery.id).where(NotificationDelivery.status == "queued")))
    assert len(due) == 1
    assert tasks.send_deliveries.apply(args=(due,)).get()["sent"] == 1
    mail = message_from_bytes(Path(tmp_dir / "outbox" / f"dlv_{due[0]}.eml").read_bytes(), policy=policy.default)
    assert mail["To"] == "ann@example.com" and mail["Subject"] == "✅ Order filled"
    assert "BUY 10 005930 @ 71,200" in mail.get_body(("plain",)).get_content()


def test_channel_kinds_limit_the_channels(client, db_session):
    ann = auth_headers(client, "ann@example.com")
    _channel(client, ann, "email", {"address": "ann@example.com"})
    _channel(client, ann, "webhook", {"url": "http://127.0.0.1:9/hook"})
    ann_id = _user_id(db_session, "ann@example.com")
    with session_scope() as session:
        notify_user(session, ann_id, dedup_key="report:1", title="Daily report", body="…",
                    channel_kinds={"email"})
        notify_user(session, ann_id, dedup_key="inbox-only:1", title="Heads up", body="…", channel_kinds=())
    kinds = list(db_session.scalars(select(NotificationDelivery.channel_kind)))
    assert kinds == ["email"]
    assert client.get("/api/v1/users/alerts", headers=ann).json()["total"] == 2


def test_admin_notices_go_to_active_admins_only(client, db_session):
    headers = {email: auth_headers(client, email)
               for email in ("root@example.com", "ops@example.com", "gone@example.com", "user@example.com")}
    with session_scope() as session:
        for user in session.scalars(select(User)):
            if user.email != "user@example.com":
                user.role = UserRole.ADMIN
            if user.email == "gone@example.com":
                user.is_active = False
    with session_scope() as session:
        assert notify_admins(session, dedup_key="stale:XKRX:1", title="Stale data", body="no bars") == 2
        assert notify_admins(session, dedup_key="stale:XKRX:1", title="Stale data", body="no bars") == 0
    assert client.get("/api/v1/users/alerts", headers=headers["user@example.com"]).json()["total"] == 0
    assert client.get("/api/v1/users/alerts", headers=headers["root@example.com"]).json()["total"] == 1
