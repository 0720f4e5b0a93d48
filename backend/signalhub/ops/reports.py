"""Daily reports after a market's close (seed 002): one per user by e-mail, and an admin summary.

A user's report covers one exchange's session: the signals they were sent, their positions' P&L (realised,
and unrealised at the latest close), their orders and risk decisions of the day, and the day's
recommendations for the tickers they watch. It goes to the inbox and the user's e-mail channels only; a user
with nothing on that exchange gets no report. The admin summary lists task errors, failed deliveries, stale
series and failing invariants.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pandas as pd
from sqlalchemy.orm import Session

from signalhub.core import calendars
from signalhub.notifications.service import notify_admins, notify_user
from signalhub.ops import invariants, repository
from signalhub.ops.state import OpsStore, get_ops_store
from signalhub.portfolios import service as portfolio_service
from signalhub.watchlists import repository as watchlist_repository

REPORT_CHANNELS = ("email",)
ERRORS_TTL_SECONDS = 3 * 24 * 3600


@dataclass
class UserReport:
    """What one user's daily report says about one exchange's session."""

    user_id: int
    exchange: str
    session: date
    signals: list[dict[str, Any]] = field(default_factory=list)
    positions: list[dict[str, Any]] = field(default_factory=list)
    realised_pnl: dict[str, Decimal] = field(default_factory=dict)  # per currency
    unrealised_pnl: dict[str, Decimal] = field(default_factory=dict)
    orders: list[dict[str, Any]] = field(default_factory=list)
    risk_events: list[dict[str, Any]] = field(default_factory=list)
    recommendations: list[dict[str, Any]] = field(default_factory=list)

    @property
    def is_empty(self) -> bool:
        """Nothing happened and nothing is held on this exchange."""
        return not (self.signals or self.positions or self.orders or self.risk_events)


def session_window(exchange: str, day: date) -> tuple[datetime, datetime]:
    """The exchange-local calendar day `day` as a UTC [start, end)."""
    tz = calendars.get_calendar(exchange).tz
    start = pd.Timestamp(day).tz_localize(tz)
    return start.tz_convert("UTC").to_pydatetime(), (start + pd.Timedelta(days=1)).tz_convert("UTC").to_pydatetime()


def _money(value: Decimal) -> str:
    return f"{value:,.2f}"


def _plain(value: Decimal) -> str:
    return format(value.normalize(), "f")


def build_user_report(session: Session, user_id: int, exchange: str, day: date,
                      store: OpsStore | None = None) -> UserReport:
    """Collect one user's report for `exchange`'s session on `day`."""
    from signalhub.recommendations.tasks import load_snapshot

    start, end = session_window(exchange, day)
    report = UserReport(user_id, exchange, day)
    for _, signal in repository.signals_received(session, user_id, exchange, start, end):
        report.signals.append({"signal_id": signal.id, "ticker": signal.ticker, "strategy": signal.strategy,
                               "action": signal.action, "grade": signal.grade, "price": signal.price,
                               "bar_ts": signal.bar_ts.isoformat()})
    held = portfolio_service.positions(session, user_id)
    on_exchange = repository.tickers_on(session, exchange, sorted({p.ticker for p in held}))
    held = [p for p in held if p.ticker in on_exchange]
    marks = portfolio_service.latest_closes(session, sorted({p.ticker for p in held if p.is_open}))
    for p in held:
        report.realised_pnl[p.currency] = report.realised_pnl.get(p.currency, Decimal(0)) + p.realised_pnl
        if not p.is_open:
            continue
        mark = marks.get(p.ticker)
        unrealised = mark.price * p.quantity - p.cost_basis if mark is not None else None
        if unrealised is not None:
            report.unrealised_pnl[p.currency] = report.unrealised_pnl.get(p.currency, Decimal(0)) + unrealised
        report.positions.append({"ticker": p.ticker, "source": str(p.source), "quantity": _plain(p.quantity),
                                 "average_cost": _money(p.average_cost), "currency": p.currency,
                                 "mark": _money(mark.price) if mark else None,
                                 "unrealised_pnl": _money(unrealised) if unrealised is not None else None,
                                 "realised_pnl": _money(p.realised_pnl)})
    for o in repository.orders_between(session, user_id, exchange, start, end):
        report.orders.append({"order_id": o.id, "ticker": o.ticker, "side": o.side, "quantity": o.quantity,
                              "state": o.state, "filled_quantity": o.filled_quantity, "broker": o.broker,
                              "avg_fill_price": str(o.avg_fill_price) if o.avg_fill_price is not None else None,
                              "signal_id": o.signal_id})
    for e in repository.risk_events_between(session, user_id, exchange, start, end):
        report.risk_events.append({"ticker": e.ticker, "side": e.side, "rule": e.rule, "decision": e.decision,
                                   "message": e.message, "signal_id": e.signal_id})
    snapshot = load_snapshot(exchange, day, store)
    if snapshot:
        watched = {item.ticker for item, _ in watchlist_repository.list_for_user(session, user_id)}
        report.recommendations = [r for r in snapshot["items"] if r["ticker"] in watched]
    return report


def render_user_report(report: UserReport) -> tuple[str, str]:
    """Title and plain-text body of a user's report (the e-mail's HTML is rendered from it)."""
    title = f"Daily report {report.exchange} {report.session.isoformat()}"
    blocks = [f"Your day on {report.exchange} ({report.session.isoformat()})."]
    if report.signals:
        blocks.append(f"Signals received ({len(report.signals)}):\n" + "\n".join(
            f"- {s['ticker']} {s['grade']} ({s['strategy']}) at {s['price']:g}" for s in report.signals))
    else:
        blocks.append("Signals received: none")
    pnl = [f"- {cur}: realised {_money(v)}" + (f", unrealised {_money(report.unrealised_pnl[cur])}"
                                                   if cur in report.unrealised_pnl else "")
           for cur, v in sorted(report.realised_pnl.items())]
    blocks.append("P&L:\n" + "\n".join(pnl) if pnl else "P&L: no positions")
    if report.positions:
        blocks.append("Open positions:\n" + "\n".join(
            f"- {p['ticker']} {p['quantity']} @ {p['average_cost']} (close {p['mark'] or 'n/a'}, "
            f"unrealised {p['unrealised_pnl'] or 'n/a'} {p['currency']})" for p in report.positions))
    blocks.append(f"Orders ({len(report.orders)}):\n" + "\n".join(
        f"- #{o['order_id']} {o['side']} {o['quantity']} {o['ticker']}: {o['state']} "
        f"({o['filled_quantity']} filled)" for o in report.orders) if report.orders else "Orders: none")
    blocks.append(f"Risk events ({len(report.risk_events)}):\n" + "\n".join(
        f"- {e['ticker']} {e['side']} {e['rule']}: {e['decision']} - {e['message']}" for e in report.risk_events)
        if report.risk_events else "Risk events: none")
    if report.recommendations:
        blocks.append("Recommendations for your watchlist:\n" + "\n".join(
            f"- {r['ticker']} {r['grade']} ({r['confidence']:.0f}%)" for r in report.recommendations))
    return title, "\n\n".join(blocks)


def _json_ready(report: UserReport) -> dict[str, Any]:
    return {"type": "daily_report", "exchange": report.exchange, "session": report.session.isoformat(),
            "signals": len(report.signals), "orders": len(report.orders), "risk_events": len(report.risk_events),
            "realised_pnl": {k: str(v) for k, v in report.realised_pnl.items()},
            "unrealised_pnl": {k: str(v) for k, v in report.unrealised_pnl.items()}}


def send_user_reports(session: Session, exchange: str, day: date, store: OpsStore | None = None) -> dict[str, int]:
    """Create each active user's report for the session (idempotent per user, exchange and day)."""
    created = skipped_empty = 0
    for user_id in repository.active_user_ids(session):
        report = build_user_report(session, user_id, exchange, day, store)
        if report.is_empty:
            skipped_empty += 1
            continue
        title, body = render_user_report(report)
        if notify_user(session, user_id, dedup_key=f"report:{exchange}:{day.isoformat()}:user:{user_id}",
                       title=title, body=body, data=_json_ready(report), channel_kinds=REPORT_CHANNELS) is not None:
            created += 1
    return {"reports": created, "empty": skipped_empty}


# --- admin summary -----------------------------------------------------------------------------------------

def count_task_error(task_name: str, at: datetime, store: OpsStore | None = None) -> None:
    """Count a failed task for the day's admin summary."""
    (store or get_ops_store()).incr(f"errors:{at.date().isoformat()}", task_name, ttl=ERRORS_TTL_SECONDS)


def task_errors(day: date, store: OpsStore | None = None) -> dict[str, int]:
    """Failed tasks by name on UTC day `day`."""
    return (store or get_ops_store()).counts(f"errors:{day.isoformat()}")


def send_admin_summary(session: Session, exchange: str, day: date, now: datetime,
                       store: OpsStore | None = None) -> int:
    """Tell the admins about the day: task errors, failed deliveries, stale series, failing invariants."""
    store = store or get_ops_store()
    errors = task_errors(now.date(), store)
    failed = repository.failed_delivery_count(session, now - timedelta(days=1))
    stale = {k: [r["ticker"] for r in rows] for k, rows in invariants.stale_series(session, exchange, now).items()}
    failing = invariants.open_episodes(store)
    lines = [f"Task errors today: {sum(errors.values())}"
             + ("".join(f"\n- {name}: {n}" for name, n in sorted(errors.items())) if errors else ""),
             f"Failed deliveries (24 h): {failed}",
             f"Stale series on {exchange}: " + ("; ".join(f"{k}: {', '.join(v)}" for k, v in stale.items() if v)
                                                or "none"),
             "Failing invariants: " + (", ".join(sorted(failing)) or "none")]
    return notify_admins(session, dedup_key=f"admin-summary:{exchange}:{day.isoformat()}",
                         title=f"Operations summary {exchange} {day.isoformat()}", body="\n\n".join(lines),
                         data={"type": "admin_summary", "exchange": exchange, "session": day.isoformat(),
                               "task_errors": errors, "failed_deliveries": failed, "stale": stale,
                               "failing_invariants": sorted(failing)})
