"""Fan-out and delivery on real signals: matching, isolation, dedup, grade, quiet hours, cooldown, digest,
retries and failure notices, through the real Celery tasks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from signalhub.core.db import session_scope
from signalhub.core.time import utcnow
from signalhub.models import Notification, NotificationDelivery, Signal
from signalhub.notifications import digest, fanout, tasks
from tests.helpers import auth_headers
from tests.signals.test_pipeline import CUT, load_until, run


@pytest.fixture
def signals(db_session):
    load_until(CUT)
    run(None)
    return list(db_session.scalars(select(Signal).order_by(Signal.id)))


def _email(client, headers, address) -> int:
    r = client.post("/api/v1/notifications/channels", headers=headers,
                    json={"kind": "email", "name": "mail", "config": {"address": address}})
    return r.json()["id"]


def _rule(client, headers, **body) -> dict:
    r = client.post("/api/v1/alerts/rules", headers=headers, json={"name": "r", **body})
    assert r.status_code == 201, r.text
    return r.json()


def _fan_out(signal_ids, now=None):
    with session_scope() as session:
        return fanout.fan_out(session, signal_ids, now or utcnow())


def test_each_user_hears_only_their_signals_once_per_channel(client, signals, db_session, tmp_dir, env):
    env.setenv("DELIVERY_RATE_PER_DESTINATION", "1000")
    ann, bob = auth_headers(client, "ann@example.com"), auth_headers(client, "bob@example.com")
    _rule(client, ann, tickers=["AAPL"], min_grade="HOLD", channel_ids=[_email(client, ann, "ann@example.com")])
    _rule(client, bob, tickers=["MSFT"], min_grade="HOLD", channel_ids=[_email(client, bob, "bob@example.com")])
    ids = [s.id for s in signals]
    first = _fan_out(ids)
    expected_ann = sum(1 for s in signals if s.ticker == "AAPL")
    expected_bob = sum(1 for s in signals if s.ticker == "MSFT")
    assert first.notifications == expected_ann + expected_bob and first.deliveries == first.notifications
    # The same signals again (a re-run, or a redelivered task): nothing new.
    again = _fan_out(ids)
    assert (again.notifications, again.deliveries) == (0, 0)

    ann_inbox = client.get("/api/v1/users/alerts", headers=ann, params={"limit": 500}).json()
    bob_inbox = client.get("/api/v1/users/alerts", headers=bob, params={"limit": 500}).json()
    assert {i["ticker"] for i in ann_inbox["items"]} == {"AAPL"} and ann_inbox["total"] == expected_ann
    assert {i["ticker"] for i in bob_inbox["items"]} == {"MSFT"} and bob_inbox["unread"] == expected_bob
    other = bob_inbox["items"][0]["id"]
    assert client.post(f"/api/v1/users/alerts/{other}/read", headers=ann).status_code == 404

    # Send them with the real task: e-mails land in the development outbox (no SMTP configured).
    result = tasks.send_deliveries.apply(args=(first.due_ids,)).get()
    assert result["sent"] == len(first.due_ids)
    assert len(list(Path(tmp_dir / "outbox").glob("dlv_*.eml"))) >= len(first.due_ids)
    history = client.get("/api/v1/notifications", headers=ann).json()["items"]
    assert all(d["status"] == "sent" and d["attempts"] == 1 for item in history for d in item["deliveries"])
    # Sending the same chunk again (a redelivered task) sends nothing twice.
    assert tasks.send_deliveries.apply(args=(first.due_ids,)).get() == {"claimed": 0}


def test_minimum_grade_and_strategy_filter(client, signals, db_session):
    ann = auth_headers(client, "ann@example.com")
    _rule(client, ann, tickers=["AAPL", "MSFT", "NVDA"], min_grade="STRONG")
    _fan_out([s.id for s in signals])
    strong = {s.id for s in signals if s.grade.startswith("STRONG")}
    got = set(db_session.scalars(select(Notification.signal_id)))
    assert got == strong
    bob = auth_headers(client, "bob@example.com")
    _rule(client, bob, tickers=["AAPL"], strategies=["rsi_reversal"], min_grade="HOLD", actions=["BUY"])
    _fan_out([s.id for s in signals])
    bob_id = client.get("/api/v1/users/me", headers=bob).json()["id"]
    bob_signals = set(db_session.scalars(select(Notification.signal_id).where(Notification.user_id == bob_id)))
    assert bob_signals == {s.id for s in signals if s.ticker == "AAPL" and s.strategy == "rsi_reversal"
                           and s.action == "BUY"}


def test_quiet_hours_defer_channels_but_not_the_inbox(client, signals, db_session):
    ann = auth_headers(client, "ann@example.com")  # Asia/Seoul
    channel = _email(client, ann, "ann@example.com")
    _rule(client, ann, tickers=["AAPL"], min_grade="HOLD", channel_ids=[channel], quiet_start="22:00",
          quiet_end="07:00")
    now = datetime(2025, 5, 1, 15, 0, tzinfo=UTC)  # 00:00 in Seoul: inside quiet hours
    result = _fan_out([s.id for s in signals], now)
    assert result.notifications > 0
    times = set(db_session.scalars(select(NotificationDelivery.next_attempt_at)))
    assert times == {datetime(2025, 5, 1, 22, 0, tzinfo=UTC)}  # 07:00 Seoul
    assert client.get("/api/v1/users/alerts", headers=ann).json()["total"] == result.notifications


def test_cooldown_per_rule_and_ticker(client, signals, db_session):
    ann = auth_headers(client, "ann@example.com")
    _rule(client, ann, tickers=["AAPL"], min_grade="HOLD", cooldown_minutes=60)
    aapl = [s.id for s in signals if s.ticker == "AAPL"]
    assert len(aapl) >= 2
    now = utcnow()
    assert _fan_out(aapl[:1], now).notifications == 1
    later = _fan_out(aapl[1:], now + timedelta(minutes=30))
    assert later.notifications == 0 and later.skipped_cooldown == len(aapl) - 1
    after = _fan_out(aapl[1:2], now + timedelta(minutes=61))
    assert after.notifications == 1


def test_per_destination_rate_limit_defers_without_spending_attempts(client, signals, db_session):
    ann = auth_headers(client, "ann@example.com")
    _rule(client, ann, tickers=["AAPL", "MSFT", "NVDA"], min_grade="HOLD",
          channel_ids=[_email(client, ann, "ann@example.com")])
    result = _fan_out([s.id for s in signals])
    assert len(result.due_ids) > 11
    stats = tasks.send_deliveries.apply(args=(result.due_ids,)).get()
    # Default: 5 per second (burst 5) to one address, paced for up to a second; the rest wait their turn in the
    # queue, attempts not spent.
    assert 5 < stats["sent"] <= 11 and stats["retried"] == len(result.due_ids) - stats["sent"]
    waiting = db_session.scalars(select(NotificationDelivery).where(NotificationDelivery.status == "queued")).all()
    assert waiting and all(d.attempts == 0 and d.last_error == "rate limited locally" for d in waiting)


def test_digest_batches_a_window_into_one_message(client, signals, db_session, tmp_dir):
    ann = auth_headers(client, "ann@example.com")
    channel = _email(client, ann, "ann@example.com")
    _rule(client, ann, tickers=["AAPL", "MSFT"], min_grade="HOLD", channel_ids=[channel], digest_minutes=60)
    now = datetime(2025, 5, 1, 10, 5, tzinfo=UTC)
    result = _fan_out([s.id for s in signals], now)
    assert result.due_ids == [] and result.deliveries == result.notifications
    with session_scope() as session:
        assert digest.build_digests(session, now + timedelta(minutes=30)) == []  # window still open
    with session_scope() as session:
        ids = digest.build_digests(session, datetime(2025, 5, 1, 11, 0, tzinfo=UTC))
    assert len(ids) == 1
    digest_note = db_session.scalar(select(Notification).where(Notification.kind == "digest"))
    assert str(result.notifications) in digest_note.title
    statuses = dict(db_session.execute(select(NotificationDelivery.status, func.count())
                                       .group_by(NotificationDelivery.status)).all())
    assert statuses == {"digested": result.notifications, "queued": 1}
    assert tasks.send_deliveries.apply(args=(ids,)).get()["sent"] == 1


def test_failing_channel_retries_then_fails_and_tells_the_user(client, signals, db_session, env):
    env.setenv("DELIVERY_MAX_ATTEMPTS", "2")
    env.setenv("DELIVERY_BACKOFF_BASE_SECONDS", "0.01")
    env.setenv("DELIVERY_BACKOFF_MAX_SECONDS", "0.02")
    env.setenv("CHANNEL_FAILURE_ALERT_AFTER", "1")
    ann = auth_headers(client, "ann@example.com")
    r = client.post("/api/v1/notifications/channels", headers=ann,
                    json={"kind": "webhook", "name": "hook", "config": {"url": "http://127.0.0.1:9/hook"}})
    assert r.status_code == 201, r.text
    assert r.json()["webhook_secret"].startswith("whsec_")
    _rule(client, ann, tickers=["AAPL"], min_grade="HOLD", channel_ids=[r.json()["id"]])
    aapl = next(s.id for s in signals if s.ticker == "AAPL")
    result = _fan_out([aapl])
    first = tasks.send_deliveries.apply(args=(result.due_ids,)).get()
    assert first["retried"] == 1
    import time

    time.sleep(0.05)
    assert tasks.dispatch_due.apply().get()["queued"] == 1
    second = tasks.send_deliveries.apply(args=(result.due_ids,)).get()
    assert second["failed"] == 1
    history = client.get("/api/v1/notifications", headers=ann).json()["items"]
    delivery = next(d for item in history for d in item["deliveries"])
    assert delivery["status"] == "failed" and delivery["attempts"] == 2 and delivery["last_error"]
    notices = [i for i in client.get("/api/v1/users/alerts", headers=ann).json()["items"] if i["kind"] == "notice"]
    assert notices and "keeps failing" in notices[0]["title"]
    admin_view = client.get("/api/v1/admin/notifications/failures", headers=ann)
    assert admin_view.status_code == 403


def test_new_bars_reach_a_signed_webhook_through_real_workers(client, env):
    """update task -> pipeline -> signals -> fan-out task -> send task -> HTTP POST verified by the receiver."""
    from celery.contrib.testing.worker import start_worker

    from signalhub.worker import celery_app
    from tests.fakes.webhook_receiver import WebhookReceiver

    env.setenv("MODEL_SERVER_URL", "http://127.0.0.1:9")  # no model server: graded technical-only
    env.setenv("DELIVERY_RATE_PER_DESTINATION", "1000")
    load_until(CUT, ["AAPL"])
    ann = auth_headers(client, "ann@example.com")
    receiver = WebhookReceiver()
    with receiver.running():
        r = client.post("/api/v1/notifications/channels", headers=ann,
                        json={"kind": "webhook", "name": "hook", "config": {"url": f"{receiver.url}/signalhub"}})
        receiver.secret = r.json()["webhook_secret"]
        _rule(client, ann, tickers=["AAPL"], min_grade="HOLD", channel_ids=[r.json()["id"]])
        with start_worker(celery_app, pool="solo", perform_ping_check=False, shutdown_timeout=30):
            queued = client.post("/api/v1/stocks/update-batch", headers=ann,
                                 json={"tickers": ["AAPL"], "end": "2025-04-12T00:00:00Z"})
            assert queued.status_code == 202
            import time

            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not receiver.requests:
                time.sleep(0.2)
            time.sleep(1.0)
    assert receiver.requests, "no webhook arrived"
    assert all(req.verified for req in receiver.requests), [req.reason for req in receiver.requests]
    payloads = [req.json() for req in receiver.requests]
    assert {p["ticker"] for p in payloads} == {"AAPL"}
    assert len({req.headers["webhook-id"] for req in receiver.requests}) == len(receiver.requests)
    history = client.get("/api/v1/notifications", headers=ann).json()["items"]
    assert len(history) == len(receiver.requests)
    assert all(d["status"] == "sent" for item in history for d in item["deliveries"])


def test_an_expired_push_subscription_switches_its_channel_off(client, signals, db_session, env):
    from signalhub.models import NotificationChannel
    from signalhub.notifications.channels.webpush import generate_vapid_keys
    from tests.fakes.push_service import FakePushService

    private, public = generate_vapid_keys()
    env.setenv("VAPID_PRIVATE_KEY", private)
    env.setenv("VAPID_PUBLIC_KEY", public)
    ann = auth_headers(client, "ann@example.com")
    push = FakePushService()
    with push.running():
        subscription = push.subscribe(public)
        r = client.post("/api/v1/notifications/channels", headers=ann,
                        json={"kind": "webpush", "name": "browser", "config": subscription})
        assert r.status_code == 201, r.text
        channel_id = r.json()["id"]
        _rule(client, ann, tickers=["AAPL"], min_grade="HOLD", channel_ids=[channel_id])
        aapl = [s.id for s in signals if s.ticker == "AAPL"][:2]
        first = _fan_out(aapl[:1])
        assert tasks.send_deliveries.apply(args=(first.due_ids,)).get()["sent"] == 1
        assert push.received and push.received[0].json()["title"].startswith(("🟢", "🟩", "🟥", "🔴", "⚪"))
        push.expire(subscription)
        second = _fan_out(aapl[1:2])
        assert tasks.send_deliveries.apply(args=(second.due_ids,)).get()["failed"] == 1
    db_session.expire_all()
    assert db_session.get(NotificationChannel, channel_id).is_active is False
    # A switched-off channel gets no new deliveries.
    assert _fan_out([s.id for s in signals if s.ticker == "AAPL"][2:3]).deliveries == 0


def test_subscribers_in_one_time_zone_share_one_stored_message(client, signals, db_session):
    """A signal's text is stored once per time zone; each user still reads it in their own zone."""
    from signalhub.models import NotificationMessage

    people = {"ann@example.com": "Asia/Seoul", "bob@example.com": "America/New_York",
              "cho@example.com": "Asia/Seoul"}
    headers = {}
    for email, zone in people.items():
        headers[email] = auth_headers(client, email, timezone=zone)
        _rule(client, headers[email], tickers=["AAPL"], min_grade="HOLD",
              channel_ids=[_email(client, headers[email], email)])
    aapl = next(s for s in signals if s.ticker == "AAPL")
    assert _fan_out([aapl.id]).notifications == 3
    keys = set(db_session.scalars(select(NotificationMessage.key).where(NotificationMessage.key.like(
        f"signal:{aapl.id}:%"))))
    assert keys == {f"signal:{aapl.id}:zone:Asia/Seoul", f"signal:{aapl.id}:zone:America/New_York"}
    bodies = {email: client.get("/api/v1/users/alerts", headers=h).json()["items"][0]["body"]
              for email, h in headers.items()}
    assert "(Asia/Seoul)" in bodies["ann@example.com"] and bodies["ann@example.com"] == bodies["cho@example.com"]
    assert "(America/New_York)" in bodies["bob@example.com"]
    # Fanned out again (a redelivered task): no new notification and no second copy of the text.
    assert _fan_out([aapl.id]).notifications == 0
    assert db_session.scalar(select(func.count()).select_from(NotificationMessage).where(
        NotificationMessage.key.like(f"signal:{aapl.id}:%"))) == 2
