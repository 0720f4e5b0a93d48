"""Daily reports after the close: per user by e-mail only (signals, P&L, orders, risk events), an admin summary."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from email import message_from_bytes, policy

from sqlalchemy import select

from signalhub.core.crypto import encrypt_json
from signalhub.core.db import session_scope
from signalhub.market_data import service as market_service
from signalhub.market_data.providers import get_provider
from signalhub.models import (
    Notification,
    NotificationChannel,
    NotificationDelivery,
    NotificationMessage,
    RiskEvent,
    Signal,
    TradingOrder,
    User,
    UserRole,
    WatchlistItem,
)
from signalhub.notifications.tasks import send_deliveries
from signalhub.ops.tasks import send_daily_reports
from signalhub.portfolios import service as portfolio_service
from signalhub.recommendations.tasks import compute_daily
from tests.helpers import register

SESSION = datetime(2025, 8, 8, 15, 0, tzinfo=UTC)  # a Friday; the newest bundled AAPL bar
AFTER_REPORTS = "2025-08-08T22:00:00+00:00"  # 16:00 close (20:00 UTC) + 120 min


def _signal(db_session) -> Signal:
    signal = Signal(ticker="AAPL", strategy="rsi_reversal", interval="1d", bar_ts=datetime(2025, 8, 8, tzinfo=UTC),
                    action="BUY", grade="STRONG_BUY", technical_confidence=0.8, combined_confidence=0.8,
                    price=229.35, params_hash="p", inputs_hash="i", input_start_ts=datetime(2025, 6, 1, tzinfo=UTC))
    db_session.add(signal)
    db_session.flush()
    return signal


def test_each_user_gets_their_report_by_email_and_admins_a_summary(client, db_session, tmp_dir):
    with session_scope() as session:
        market_service.update_prices(session, get_provider("replay"), ["AAPL", "005930.KS"], "1d",
                                     datetime(2025, 6, 1, tzinfo=UTC), datetime(2025, 8, 9, tzinfo=UTC))
    admin = register(client, "root@example.com")["id"]
    db_session.get(User, admin).role = UserRole.ADMIN
    ann, bob, cho = (register(client, f"{n}@example.com")["id"] for n in ("ann", "bob", "cho"))
    email = NotificationChannel(user_id=ann, kind="email", name="mail", destination_hint="a***@example.com",
                                config_encrypted=encrypt_json({"address": "ann@example.com"}))
    hook = NotificationChannel(user_id=ann, kind="webhook", name="hook", destination_hint="http://127.0.0.1/…",
                               config_encrypted=encrypt_json({"url": "http://127.0.0.1:9/", "secret": "s"}))
    db_session.add_all([email, hook, WatchlistItem(user_id=ann, ticker="AAPL")])
    signal = _signal(db_session)
    db_session.add(Notification(user_id=ann, dedup_key="signal:x:ann", kind="signal", signal_id=signal.id,
                                ticker="AAPL", created_at=SESSION,
                                message=NotificationMessage(key="signal:x:zone:UTC", title="AAPL STRONG_BUY",
                                                            body="...")))
    # bob only holds a Korean stock: nothing to report about New York. cho has nothing at all.
    portfolio_service.record_trade(db_session, bob, ticker="005930.KS", side="BUY", quantity=Decimal(10),
                                   price=Decimal(70000), fees=Decimal(0), executed_at=SESSION, source="manual")
    portfolio_service.record_trade(db_session, ann, ticker="AAPL", side="BUY", quantity=Decimal(10),
                                   price=Decimal(200), fees=Decimal(0), executed_at=datetime(2025, 7, 1, tzinfo=UTC),
                                   source="manual")
    portfolio_service.record_trade(db_session, ann, ticker="AAPL", side="SELL", quantity=Decimal(4),
                                   price=Decimal(225), fees=Decimal(0), executed_at=SESSION, source="manual")
    order = TradingOrder(user_id=ann, client_order_id=f"u{ann}-s{signal.id}-BUY", signal_id=signal.id,
                         broker="paper", ticker="AAPL", side="BUY", order_type="MARKET", quantity=3, state="FILLED",
                         filled_quantity=3, created_at=SESSION, updated_at=SESSION)
    db_session.add(order)
    db_session.add(RiskEvent(user_id=ann, signal_id=signal.id, client_order_id="u-s-SELL", ticker="AAPL",
                             side="SELL", rule="max_position", decision="REJECTED", message="position limit reached",
                             created_at=SESSION))
    db_session.commit()

    # 17:30 New York (close + 90 min): the day's recommendations snapshot the report draws on.
    assert compute_daily.apply(args=("XNYS", "2025-08-08T21:30:00+00:00")).get()["count"] == 1
    result = send_daily_reports.apply(args=("XNYS", AFTER_REPORTS)).get()
    assert (result["reports"], result["empty"], result["admin_summaries"]) == (1, 3, 1), result
    # Run twice (a redelivered task): nobody hears twice.
    assert send_daily_reports.apply(args=("XNYS", AFTER_REPORTS)).get()["reports"] == 0

    report = db_session.scalar(select(Notification).where(Notification.user_id == ann,
                                                          Notification.dedup_key.like("report:%")))
    assert report.title == "Daily report XNYS 2025-08-08"
    deliveries = list(db_session.scalars(select(NotificationDelivery)
                                         .where(NotificationDelivery.notification_id == report.id)))
    assert [d.channel_id for d in deliveries] == [email.id]  # e-mail only, never the webhook
    assert db_session.scalar(select(Notification).where(Notification.user_id.in_([bob, cho]),
                                                        Notification.dedup_key.like("report:%"))) is None

    assert send_deliveries.apply(args=([d.id for d in deliveries],)).get()["sent"] == 1
    mail = message_from_bytes((tmp_dir / "outbox" / f"dlv_{deliveries[0].id}.eml").read_bytes(), policy=policy.default)
    assert mail["Subject"] == "Daily report XNYS 2025-08-08" and mail["To"] == "ann@example.com"
    # 4 sold at 225 against an average cost of 200: realised 100; the 6 held are marked at the 229.35 close.
    assert mail.get_body(("plain",)).get_content() == f"""Your day on XNYS (2025-08-08).

Signals received (1):
- AAPL STRONG_BUY (rsi_reversal) at 229.35

P&L:
- USD: realised 100.00, unrealised 176.10

Open positions:
- AAPL 6 @ 200.00 (close 229.35, unrealised 176.10 USD)

Orders (1):
- #{order.id} BUY 3 AAPL: FILLED (3 filled)

Risk events (1):
- AAPL SELL max_position: REJECTED - position limit reached

Recommendations for your watchlist:
- AAPL STRONG_BUY (80%)
"""

    summary = db_session.scalar(select(Notification).where(Notification.user_id == admin))
    assert summary.title == "Operations summary XNYS 2025-08-08"
    assert "Failed deliveries (24 h): 0" in summary.body and "Failing invariants: none" in summary.body


def test_no_reports_on_a_holiday(client, db_session):
    register(client, "ann@example.com")
    result = send_daily_reports.apply(args=("XNYS", "2025-07-04T22:00:00+00:00")).get()
    assert result == {"exchange": "XNYS", "skipped": "2025-07-04 is not a XNYS session"}
    assert db_session.scalar(select(Notification)) is None


def test_failed_tasks_are_counted_for_the_admin_summary(client):
    from signalhub.core.time import utcnow
    from signalhub.ops import reports
    from signalhub.ops.tasks import check_invariants

    failed = check_invariants.apply(kwargs={"at": "not-a-time"})
    assert failed.failed()
    assert reports.task_errors(utcnow().date()) == {"signalhub.ops.tasks.check_invariants": 1}
