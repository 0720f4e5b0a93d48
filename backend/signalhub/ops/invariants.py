"""Invariants that must hold while the platform runs, checked every minute by beat.

- stale_bars: while an exchange is open, every watched ticker's intraday series and every active stock's daily
  series is as fresh as the calendar allows (`market_data.service.stale_tickers`, STALE_AFTER_MINUTES);
- signals_evaluated: while an exchange is open and someone watches a ticker on it, the signal pipeline ran
  for it within INVARIANT_EVALUATION_MINUTES (intraday polls record when they evaluate);
- channel_failing:<kind>: of the deliveries attempted on a channel kind in the last
  INVARIANT_CHANNEL_WINDOW_MINUTES (at least INVARIANT_CHANNEL_MIN_ATTEMPTS), no more than
  INVARIANT_CHANNEL_FAILURE_RATIO failed.

A violation opens an episode (kept in the ops store) and alerts the admins once for it, through the notification
system; the episode ends when the check passes again. INVARIANT_FAILING shows the current state,
INVARIANT_VIOLATIONS counts episodes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from signalhub.core import calendars, metrics
from signalhub.core.config import get_settings
from signalhub.market_data import repository as market_repository
from signalhub.market_data import service as market_service
from signalhub.notifications.service import notify_admins
from signalhub.ops import repository
from signalhub.ops.state import OpsStore, get_ops_store
from signalhub.watchlists import repository as watchlist_repository

logger = logging.getLogger(__name__)

ALL = "all"  # the exchange label of invariants that are not about one market
_EVALUATED_KEY = "evaluated:"
_EPISODE_KEY = "invariant:"


@dataclass(frozen=True)
class CheckResult:
    """One invariant on one exchange: holding or not, and what was seen."""

    invariant: str
    exchange: str
    failing: bool
    detail: str = ""
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Outcome:
    """A check's result and what was done about it."""

    check: CheckResult
    episode: str | None  # when the current episode started (None while holding)
    new_episode: bool
    admins_notified: int


# --- measurements -------------------------------------------------------------------------------------------

def stale_series(session: Session, exchange: str, now: datetime) -> dict[str, list[dict[str, Any]]]:
    """Stale series on an exchange: daily bars of active stocks, and (while open) intraday bars of watched ones.

    Also publishes DATA_AGE (age of the newest of those bars) for the exchange.
    """
    daily = [s.ticker for s in market_repository.list_stocks(session, exchange=exchange)]
    stale = {"1d": market_service.stale_tickers(session, exchange, "1d", daily, now)}
    newest = list(market_repository.latest_bar_times(session, daily, "1d").values())
    if calendars.is_open(exchange, now):
        interval = get_settings().intraday_interval
        watched = watchlist_repository.watched_tickers(session, exchange)
        stale[interval] = market_service.stale_tickers(session, exchange, interval, watched, now)
        newest += market_repository.latest_bar_times(session, watched, interval).values()
    if newest:
        metrics.DATA_AGE.labels(exchange=exchange).set((now - max(newest)).total_seconds())
    return stale


def record_evaluation(exchange: str, at: datetime, store: OpsStore | None = None) -> None:
    """Note that the signal pipeline evaluated `exchange`'s watched tickers at `at`."""
    (store or get_ops_store()).put(_EVALUATED_KEY + exchange, {"at": at.isoformat()})


def last_evaluation(exchange: str, store: OpsStore | None = None) -> datetime | None:
    """When the signal pipeline last evaluated `exchange`, if it ever did."""
    value = (store or get_ops_store()).get(_EVALUATED_KEY + exchange)
    return datetime.fromisoformat(value["at"]) if value else None


# --- checks -------------------------------------------------------------------------------------------------

def check_stale_bars(session: Session, exchange: str, now: datetime) -> CheckResult:
    """stale_bars: only while the exchange is open (a holiday, night or weekend is quiet)."""
    if not calendars.is_open(exchange, now):
        return CheckResult("stale_bars", exchange, False, "market closed")
    stale = {interval: rows for interval, rows in stale_series(session, exchange, now).items() if rows}
    if not stale:
        return CheckResult("stale_bars", exchange, False)
    parts = [f"{interval}: {', '.join(r['ticker'] for r in rows)}" for interval, rows in stale.items()]
    return CheckResult("stale_bars", exchange, True,
                       f"No new bars on {exchange} while it is open ({'; '.join(parts)})", {"stale": stale})


def check_signal_evaluation(session: Session, exchange: str, now: datetime, store: OpsStore) -> CheckResult:
    """signals_evaluated: while open with watched tickers, the pipeline ran within the allowed minutes."""
    if not calendars.is_open(exchange, now):
        return CheckResult("signals_evaluated", exchange, False, "market closed")
    if not watchlist_repository.watched_tickers(session, exchange):
        return CheckResult("signals_evaluated", exchange, False, "nothing watched")
    limit = timedelta(minutes=get_settings().invariant_evaluation_minutes)
    opened = _session_open(exchange, now)
    last = last_evaluation(exchange, store)
    # Measured from the open at the earliest: yesterday's last run does not make this morning late.
    since = max(opened, last) if last is not None else opened
    if now - since <= limit:
        return CheckResult("signals_evaluated", exchange, False)
    return CheckResult("signals_evaluated", exchange, True,
                       f"No signal evaluation on {exchange} for {int((now - since).total_seconds() // 60)} minutes "
                       f"while it is open (last: {last.isoformat() if last else 'never'})",
                       {"last_evaluation": last.isoformat() if last else None})


def _session_open(exchange: str, now: datetime) -> datetime:
    day = now.astimezone(calendars.get_calendar(exchange).tz).date()
    return calendars.session_open_utc(exchange, day).to_pydatetime()


def check_channels(session: Session, now: datetime) -> list[CheckResult]:
    """channel_failing:<kind> for every channel kind with attempts in the window."""
    settings = get_settings()
    window = timedelta(minutes=settings.invariant_channel_window_minutes)
    results = []
    for kind, (attempted, failed) in sorted(repository.delivery_outcomes(session, now - window).items()):
        ratio = failed / attempted if attempted else 0.0
        failing = attempted >= settings.invariant_channel_min_attempts \
            and ratio > settings.invariant_channel_failure_ratio
        detail = (f"{failed} of {attempted} {kind} deliveries failed in the last {window} ({ratio:.0%})"
                  if failing else "")
        results.append(CheckResult(f"channel_failing:{kind}", ALL, failing, detail,
                                   {"attempted": attempted, "failed": failed, "ratio": round(ratio, 4)}))
    return results


# --- running them -------------------------------------------------------------------------------------------

def _episode_key(result: CheckResult) -> str:
    return f"{_EPISODE_KEY}{result.invariant}:{result.exchange}"


def record(session: Session, result: CheckResult, now: datetime, store: OpsStore) -> Outcome:
    """Update metrics and the episode of one check; alert the admins when an episode starts."""
    metrics.INVARIANT_FAILING.labels(invariant=result.invariant, exchange=result.exchange).set(int(result.failing))
    key = _episode_key(result)
    if not result.failing:
        store.delete(key)
        return Outcome(result, None, False, 0)
    current = store.get(key)
    if current is not None:
        return Outcome(result, current["since"], False, 0)
    since = now.isoformat()
    store.put(key, {"since": since, "detail": result.detail})
    metrics.INVARIANT_VIOLATIONS.labels(invariant=result.invariant, exchange=result.exchange).inc()
    logger.warning("invariant violated", extra={"invariant": result.invariant, "exchange": result.exchange,
                                                 "detail": result.detail})
    # The episode's start is part of the key: one alert per episode, even if this runs twice.
    notified = notify_admins(session, dedup_key=f"invariant:{result.invariant}:{result.exchange}:{since}",
                             title=f"Invariant violated: {result.invariant} ({result.exchange})",
                             body=result.detail,
                             data={"type": "invariant", "invariant": result.invariant, "exchange": result.exchange,
                                   "since": since})
    return Outcome(result, since, True, notified)


def check_all(session: Session, now: datetime, store: OpsStore | None = None,
              exchanges: tuple[str, ...] = calendars.EXCHANGES) -> list[Outcome]:
    """Run every invariant at `now`, recording episodes and alerting on new ones."""
    store = store or get_ops_store()
    results: list[CheckResult] = []
    for exchange in exchanges:
        results.append(check_stale_bars(session, exchange, now))
        results.append(check_signal_evaluation(session, exchange, now, store))
    channels = check_channels(session, now)
    # A channel kind nobody used in the window has nothing failing: close its episode too.
    seen = {r.invariant for r in channels}
    for name in open_episodes(store):
        invariant = name.rsplit(":", 1)[0]
        if invariant.startswith("channel_failing:") and invariant not in seen:
            channels.append(CheckResult(invariant, ALL, False, "no attempts in the window"))
    results.extend(channels)
    return [record(session, result, now, store) for result in results]


def open_episodes(store: OpsStore | None = None) -> dict[str, dict[str, Any]]:
    """Invariants failing right now: {"<invariant>:<exchange>": {"since", "detail"}}."""
    return {k[len(_EPISODE_KEY):]: v for k, v in (store or get_ops_store()).scan(_EPISODE_KEY).items()}
