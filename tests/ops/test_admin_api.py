"""The admin API: status, users (page, deactivate, reactivate), failed-delivery replay; 403 for non-admins."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from signalhub.core.time import utcnow
from signalhub.models import (
    Notification,
    NotificationChannel,
    NotificationDelivery,
    NotificationMessage,
    PriceBar,
    Stock,
    SystemFlag,
    User,
    UserRole,
)
from signalhub.ops.tasks import write_heartbeat
from signalhub.trading.repository import GLOBAL_KILL_SWITCH
from tests.helpers import auth_headers, login, register


def _admin(client, db_session, email="root@example.com") -> tuple[dict[str, str], int]:
    user_id = register(client, email)["id"]
    db_session.get(User, user_id).role = UserRole.ADMIN
    db_session.commit()
    return {"Authorization": f"Bearer {login(client, email)['access_token']}"}, user_id


def test_non_admins_get_403_everywhere(client):
    ann = auth_headers(client, "ann@example.com")
    for method, path in (("get", "/api/v1/admin/status"), ("get", "/api/v1/admin/users"),
                         ("post", "/api/v1/admin/users/1/deactivate"), ("post", "/api/v1/admin/users/1/reactivate"),
                         ("post", "/api/v1/admin/notifications/deliveries/1/replay")):
        r = getattr(client, method)(path, headers=ann)
        assert r.status_code == 403, (path, r.text)
        assert r.json()["error"]["code"] == "forbidden"
    assert client.get("/api/v1/admin/status").status_code == 401


def test_status_reports_markets_bars_queues_workers_and_the_kill_switch(client, db_session):
    headers, admin_id = _admin(client, db_session)
    now = utcnow()
    db_session.add(Stock(ticker="AAPL", exchange="XNYS", currency="USD"))
    db_session.flush()
    bar_ts = (now - timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    db_session.add(PriceBar(ticker="AAPL", interval="1d", ts=bar_ts, open=1, high=1, low=1, close=1, volume=1,
                            source="test"))
    db_session.add(SystemFlag(key=GLOBAL_KILL_SWITCH, enabled=True, reason="maintenance", updated_by=admin_id))
    db_session.commit()
    write_heartbeat("worker-1@host", now)

    body = client.get("/api/v1/admin/status", headers=headers).json()
    markets = {m["exchange"]: m for m in body["markets"]}
    assert set(markets) == {"XKRX", "XNYS"}
    for m in markets.values():
        # Open now: the next close comes before the next open; closed: the other way round.
        assert (m["next_close"] < m["next_open"]) is m["is_open"]
    assert markets["XNYS"]["last_bar"] == {"1d": bar_ts.isoformat().replace("+00:00", "Z")}
    assert markets["XKRX"]["last_bar"] == {}
    assert body["broker"] in ("sqlalchemy", "redis") and "celery" in body["queues"]
    assert isinstance(body["queues"]["celery"], int)
    assert [w["hostname"] for w in body["workers"]] == ["worker-1@host"]
    assert body["kill_switch"]["enabled"] is True and body["kill_switch"]["reason"] == "maintenance"
    assert body["failing_invariants"] == []


def test_users_are_paged_and_can_be_deactivated_and_reactivated(client, db_session):
    headers, admin_id = _admin(client, db_session)
    ann = register(client, "ann@example.com")
    bob_headers = auth_headers(client, "bob@example.com")
    page = client.get("/api/v1/admin/users", headers=headers, params={"limit": 2, "offset": 1}).json()
    assert page["total"] == 3 and [u["email"] for u in page["items"]] == ["ann@example.com", "bob@example.com"]
    assert "password_hash" not in page["items"][0]
    bad = client.get("/api/v1/admin/users", headers=headers, params={"limit": 0})
    assert bad.status_code == 422 and bad.json()["error"]["details"][0]["field"] == "query.limit"

    ann_tokens = login(client, "ann@example.com")
    r = client.post(f"/api/v1/admin/users/{ann['id']}/deactivate", headers=headers)
    assert r.status_code == 200 and r.json()["is_active"] is False
    # Neither a new login, nor the access token, nor the refresh token works any more.
    assert client.post("/api/v1/users/token", data={"username": "ann@example.com",
                                                   "password": "correct horse battery"}).status_code == 401
    me = client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {ann_tokens['access_token']}"})
    assert me.status_code == 401
    refresh = client.post("/api/v1/users/token/refresh", json={"refresh_token": ann_tokens["refresh_token"]})
    assert refresh.status_code == 401, refresh.text
    # Other users are unaffected.
    assert client.get("/api/v1/users/me", headers=bob_headers).status_code == 200

    r = client.post(f"/api/v1/admin/users/{ann['id']}/reactivate", headers=headers)
    assert r.status_code == 200 and r.json()["is_active"] is True
    assert login(client, "ann@example.com")["access_token"]

    self_off = client.post(f"/api/v1/admin/users/{admin_id}/deactivate", headers=headers)
    assert self_off.status_code == 422 and "user_id" in self_off.json()["error"]["message"]
    assert client.post("/api/v1/admin/users/999999/deactivate", headers=headers).status_code == 404


def test_failed_delivery_replay(client, db_session, tmp_dir):
    headers, _ = _admin(client, db_session)
    user = register(client, "ann@example.com")["id"]
    now = utcnow()
    channel = NotificationChannel(user_id=user, kind="email", name="mail", destination_hint="a***@example.com",
                                  config_encrypted=_encrypted({"address": "ann@example.com"}))
    notice = Notification(user_id=user, dedup_key="replay-me", kind="notice",
                          message=NotificationMessage(key="n:replay-me", title="Hello", body="Body"))
    db_session.add_all([channel, notice])
    db_session.flush()
    failed = NotificationDelivery(notification_id=notice.id, channel_id=channel.id, user_id=user,
                                  channel_kind="email", status="failed", attempts=6, next_attempt_at=now,
                                  last_error="550 mailbox unavailable")
    db_session.add(failed)
    db_session.commit()
    assert [d["id"] for d in client.get("/api/v1/admin/notifications/failures", headers=headers)
            .json()["items"]] == [failed.id]

    r = client.post(f"/api/v1/admin/notifications/deliveries/{failed.id}/replay", headers=headers)
    assert r.status_code == 202, r.text
    assert r.json() == {"id": failed.id, "status": "queued", "attempts": 0}
    db_session.expire_all()
    row = db_session.get(NotificationDelivery, failed.id)
    assert (row.status, row.attempts, row.last_error) == ("queued", 0, None)
    # Only a failed delivery can be replayed; an unknown one is 404.
    again = client.post(f"/api/v1/admin/notifications/deliveries/{failed.id}/replay", headers=headers)
    assert again.status_code == 409 and "only failed" in again.json()["error"]["message"]
    assert client.post("/api/v1/admin/notifications/deliveries/999999/replay", headers=headers).status_code == 404

    # The send the replay queued goes out through the real task (to the development outbox).
    from signalhub.notifications.tasks import send_deliveries

    assert send_deliveries.apply(args=([failed.id],)).get()["sent"] == 1
    db_session.expire_all()
    assert db_session.scalar(select(NotificationDelivery.status).where(NotificationDelivery.id == failed.id)) \
        == "sent"


def _encrypted(config: dict) -> str:
    from signalhub.core.crypto import encrypt_json

    return encrypt_json(config)
