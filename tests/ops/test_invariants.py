"""Invariants on real replayed market data: a feed that stops mid-session alerts the admins once per episode,
a holiday stays quiet; a stalled pipeline and a failing channel kind alert too."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from prometheus_client import REGISTRY
from sqlalchemy import select

from signalhub.core.config import get_settings
from signalhub.core.db import session_scope
from signalhub.market_data import repository as market_repository
from signalhub.market_data.providers.replay import ReplayClock, ReplayProvider
from signalhub.models import (
    Notification,
    NotificationChannel,
    NotificationDelivery,
    NotificationMessage,
    User,
    UserRole,
    WatchlistItem,
)
from signalhub.ops import invariants
from signalhub.ops.tasks import check_invariants
from signalhub.signals.pipeline import ingest
from tests.helpers import register

OPEN = datetime(2024, 10, 2, 13, 30, tzinfo=UTC)  # 09:30 New York; 1m AAPL bars are bundled for this session
THANKSGIVING = datetime(2024, 11, 28, 16, 0, tzinfo=UTC)
NEW_YORK = ZoneInfo("America/New_York")


class Feed:
    """The replay provider behind a clock the test moves; not moving it is a feed that stopped."""

    def __init__(self, at: datetime) -> None:
        self.at = at
        self.provider = ReplayProvider(clock=ReplayClock(OPEN, 1.0, anchor=OPEN, wall=lambda: self.at))

    def poll(self, interval: str = "1m", start: datetime | None = None) -> str:
        """What poll_intraday does: run the pipeline on the watched ticker and note the evaluation.

        Returns the newest stored bar's start, New York time."""
        with session_scope() as session:
            ingest(session, self.provider, ["AAPL"], interval, None, start=start)
            newest = market_repository.latest_bar_times(session, ["AAPL"], interval)["AAPL"]
        invariants.record_evaluation("XNYS", self.at)
        return newest.astimezone(NEW_YORK).strftime("%H:%M")


def _admin(client, db_session, email="root@example.com") -> int:
    user_id = register(client, email)["id"]
    db_session.get(User, user_id).role = UserRole.ADMIN
    db_session.commit()
    return user_id


def _check(at: datetime) -> dict:
    return check_invariants.apply(kwargs={"at": at.isoformat()}).get()


def _alerts(db_session, admin_id: int) -> list[str]:
    db_session.expire_all()
    return list(db_session.scalars(select(Notification.title).where(Notification.user_id == admin_id)
                                   .order_by(Notification.id)))


def _violations(invariant: str, exchange: str) -> float:
    labels = {"invariant": invariant, "exchange": exchange}
    return REGISTRY.get_sample_value("signalhub_invariant_violations_total", labels) or 0.0


def _failing(invariant: str, exchange: str) -> float | None:
    return REGISTRY.get_sample_value("signalhub_invariant_failing", {"invariant": invariant, "exchange": exchange})


def _watch(client, db_session, feed: Feed) -> None:
    feed.poll("1d")  # the daily history up to yesterday; also creates the stock row
    ann = register(client, "ann@example.com")["id"]
    db_session.add(WatchlistItem(user_id=ann, ticker="AAPL"))
    db_session.commit()


def test_feed_stopping_mid_session_fires_once_per_episode(client, db_session):
    admin = _admin(client, db_session)
    feed = Feed(OPEN + timedelta(hours=1))  # 10:30 New York
    _watch(client, db_session, feed)
    assert feed.poll(start=OPEN) == "10:29"
    before = _violations("stale_bars", "XNYS")

    assert _check(feed.at + timedelta(minutes=5))["failing"] == []
    # The provider returns nothing new from here on, while polls keep running.
    frozen = feed.at
    for minutes in (10, 16):
        feed.at = frozen  # the replayed market stands still: no bar after 10:29
        assert feed.poll() == "10:29"
        invariants.record_evaluation("XNYS", frozen + timedelta(minutes=minutes))
    result = _check(frozen + timedelta(minutes=17))
    assert result["new_episodes"] == ["stale_bars:XNYS"] and result["failing"] == ["stale_bars:XNYS"]
    assert _alerts(db_session, admin) == ["Invariant violated: stale_bars (XNYS)"]
    assert _violations("stale_bars", "XNYS") == before + 1 and _failing("stale_bars", "XNYS") == 1

    # Still stale a few minutes later: the same episode, no second alert.
    assert _check(frozen + timedelta(minutes=25))["new_episodes"] == []
    assert len(_alerts(db_session, admin)) == 1 and _violations("stale_bars", "XNYS") == before + 1
    status = client.get("/api/v1/admin/status", headers=_login(client, "root@example.com")).json()
    assert [i["name"] for i in status["failing_invariants"]] == ["stale_bars:XNYS"]

    # Bars flow again: the episode ends. When they stop once more, that is a new episode and a new alert.
    feed.at = frozen + timedelta(minutes=30)
    assert feed.poll() == "10:59"
    assert _check(feed.at + timedelta(minutes=1))["failing"] == []
    assert _failing("stale_bars", "XNYS") == 0
    invariants.record_evaluation("XNYS", feed.at + timedelta(minutes=20))
    assert _check(feed.at + timedelta(minutes=20))["new_episodes"] == ["stale_bars:XNYS"]
    assert len(_alerts(db_session, admin)) == 2 and _violations("stale_bars", "XNYS") == before + 2


def test_a_holiday_stays_quiet(client, db_session):
    admin = _admin(client, db_session)
    feed = Feed(OPEN + timedelta(hours=1))
    _watch(client, db_session, feed)
    feed.poll(start=OPEN)
    # Weeks later the stored data is old by any measure, but Thanksgiving and the night before are closed.
    with session_scope() as session:
        assert invariants.stale_series(session, "XNYS", THANKSGIVING)["1d"]
    for at in (THANKSGIVING, THANKSGIVING - timedelta(hours=12), datetime(2024, 10, 5, 15, 0, tzinfo=UTC)):
        result = _check(at)
        assert not [f for f in result["failing"] if f.endswith(":XNYS")], (at, result)
    assert _alerts(db_session, admin) == []
    # The same data on the next session day is stale while open: the quiet above is the calendar's doing.
    assert "stale_bars:XNYS" in _check(datetime(2024, 11, 29, 15, 0, tzinfo=UTC))["failing"]


def test_stalled_signal_evaluation_fires_while_open(client, db_session):
    admin = _admin(client, db_session)
    feed = Feed(OPEN + timedelta(minutes=30))
    _watch(client, db_session, feed)
    feed.poll(start=OPEN)
    # No poll since 10:00: at 10:10 still fine, at 10:16 the pipeline has been silent too long.
    assert "signals_evaluated:XNYS" not in _check(feed.at + timedelta(minutes=10))["failing"]
    result = _check(feed.at + timedelta(minutes=16))
    assert "signals_evaluated:XNYS" in result["new_episodes"]
    assert "Invariant violated: signals_evaluated (XNYS)" in _alerts(db_session, admin)
    # Shortly after the next open it is not late yet, whatever yesterday's last run was.
    assert "signals_evaluated:XNYS" not in _check(datetime(2024, 10, 3, 13, 40, tzinfo=UTC))["failing"]


def test_a_failing_channel_kind_fires_above_the_ratio(client, db_session, env):
    admin = _admin(client, db_session)
    env.setenv("INVARIANT_CHANNEL_MIN_ATTEMPTS", "4")
    get_settings.cache_clear()
    user = register(client, "bob@example.com")["id"]
    now = datetime.now(UTC)
    channels = {kind: NotificationChannel(user_id=user, kind=kind, name=kind, config_encrypted="x",
                                          destination_hint="h") for kind in ("email", "webhook")}
    outcomes = [("email", "failed"), ("email", "failed"), ("email", "failed"), ("email", "sent"),
                ("webhook", "failed"), ("webhook", "failed")]  # webhook: too few attempts to judge
    notifications = [Notification(user_id=user, dedup_key=f"n{i}", kind="notice",
                                  message=NotificationMessage(key=f"n:n{i}", title="t", body="b"))
                     for i in range(len(outcomes))]
    db_session.add_all([*channels.values(), *notifications])
    db_session.flush()
    db_session.add_all([
        NotificationDelivery(notification_id=n.id, channel_id=channels[kind].id, user_id=user, channel_kind=kind,
                             status=state, attempts=1, next_attempt_at=now,
                             last_error="boom" if state == "failed" else None, updated_at=now - timedelta(minutes=i))
        for i, (n, (kind, state)) in enumerate(zip(notifications, outcomes, strict=True))])
    db_session.commit()
    result = _check(now)
    assert "channel_failing:email:all" in result["new_episodes"]
    assert not any(f.startswith("channel_failing:webhook") for f in result["failing"])
    assert "Invariant violated: channel_failing:email (all)" in _alerts(db_session, admin)
    # An hour later the failures have left the window: the episode ends.
    assert "channel_failing:email:all" not in _check(now + timedelta(minutes=61))["failing"]
    assert invariants.open_episodes() == {}


def _login(client, email: str) -> dict[str, str]:
    from tests.helpers import login

    return {"Authorization": f"Bearer {login(client, email)['access_token']}"}
