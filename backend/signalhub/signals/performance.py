"""Signal performance: forward returns of past signals, their aggregates, and consecutive-loss monitoring.

Definitions (also in the API docs):
- Forward return at horizon N: from the close of the signal's daily bar to the close of the daily bar N bars
  later in `price_bars` (N trading days: stored bars, so exchange holidays are skipped). Intraday signals are
  measured from the daily close of their own session (the exchange's local date of the bar), so every interval
  shares one yardstick. An outcome is stored only once the N-th later bar exists and its session has closed.
- Signal return: the forward return for a BUY, its negative for a SELL. HOLD-graded signals are not evaluated.
- Win: signal return > 0. Success: signal return > the success threshold (SIGNAL_SUCCESS_THRESHOLD, 1% by
  default, roughly what a round trip costs), so a success is a win that was worth trading. Loss: return < 0.
- Sharpe: mean / sample standard deviation of the signal returns x sqrt(252 / N), i.e. annualised as if the
  signals were held back to back, without a risk-free rate.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session

from signalhub.alerts import repository as alerts_repository
from signalhub.core import calendars
from signalhub.core.config import get_settings
from signalhub.core.time import utcnow
from signalhub.market_data.repository import load_bars_frame
from signalhub.notifications.service import notify_admins, notify_user
from signalhub.signals import performance_repository as repository
from signalhub.users import repository as users_repository

logger = logging.getLogger(__name__)

HORIZONS: tuple[int, ...] = (1, 5, 20)
TRADING_DAYS_PER_YEAR = 252
# Tickers whose daily bars are loaded and matched at once: bounded memory on the 501-ticker universe.
TICKER_BATCH = 100


@dataclass
class EvaluationResult:
    """What one evaluation run stored."""

    pending: int = 0
    stored: dict[int, int] = field(default_factory=lambda: {h: 0 for h in HORIZONS})
    tickers: int = 0

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready summary (task results)."""
        return {"pending": self.pending, "stored": {str(h): n for h, n in self.stored.items()},
                "tickers": self.tickers}


def base_bar_ts(tickers: pd.Series, intervals: pd.Series, bar_ts: pd.Series) -> pd.Series:
    """The daily bar each signal is measured from: its own for daily signals, its session's for intraday."""
    out = bar_ts.copy()
    intraday = (intervals != calendars.DAILY).to_numpy()
    if intraday.any():
        exchanges = tickers[intraday].map(calendars.exchange_for_ticker)
        for exchange in exchanges.unique():
            rows = exchanges.index[exchanges == exchange]
            # The session date is the exchange's local date: a New York bar at 20:00 UTC is that day's session.
            local = pd.DatetimeIndex(bar_ts.loc[rows]).tz_convert(calendars.get_calendar(exchange).tz)
            out.loc[rows] = local.tz_localize(None).normalize().tz_localize("UTC").as_unit("ns")
    return out


def completed_daily_bars(bars: pd.DataFrame, now: datetime) -> pd.DataFrame:
    """Only daily bars whose session has closed by `now` (a provider may serve today's bar while it trades)."""
    if bars.empty:
        return bars
    cutoff = pd.Timestamp(now).tz_convert("UTC")
    ts = pd.DatetimeIndex(bars["ts"])
    # A session ends within a day of its label (or its local midnight when not a session): older bars are
    # final, and only the few recent ones need the calendar.
    keep = ts <= cutoff - pd.Timedelta(days=2)
    recent = np.flatnonzero(~keep)
    if len(recent):
        tickers = pd.Series(bars["ticker"].to_numpy()[recent]).astype(str)
        exchanges = tickers.map({t: calendars.exchange_for_ticker(t) for t in tickers.unique()}).to_numpy()
        for exchange in np.unique(exchanges):
            rows = recent[exchanges == exchange]
            keep[rows] = calendars.bar_ends(exchange, calendars.DAILY, ts[rows]).asi8 <= cutoff.value
    return bars[keep]


def forward_returns(pending: pd.DataFrame, bars: pd.DataFrame) -> pd.DataFrame:
    """Outcomes of pending (signal, horizon) pairs whose N-th later daily bar is in `bars` (others: no row)."""
    columns = ["signal_id", "horizon", "base_ts", "base_close", "exit_ts", "exit_close", "forward_return",
               "signal_return"]
    if pending.empty or bars.empty:
        return pd.DataFrame(columns=columns)
    daily = bars[["ticker", "ts", "close"]].assign(ticker=bars["ticker"].astype(str))
    daily = daily.sort_values(["ticker", "ts"], kind="stable").reset_index(drop=True)
    # The position of each bar in its ticker's history: "N bars later" is position + N.
    daily["pos"] = daily.groupby("ticker", sort=False).cumcount()
    signals = pending.assign(ticker=pending["ticker"].astype(str),
                             base_ts=base_bar_ts(pending["ticker"], pending["interval"], pending["bar_ts"]))
    base = signals.merge(daily.rename(columns={"ts": "base_ts", "close": "base_close"}),
                         on=["ticker", "base_ts"], how="inner")
    base["exit_pos"] = base["pos"] + base["horizon"]
    done = base.merge(daily.rename(columns={"pos": "exit_pos", "ts": "exit_ts", "close": "exit_close"}),
                      on=["ticker", "exit_pos"], how="inner")
    done["forward_return"] = done["exit_close"] / done["base_close"] - 1.0
    done["signal_return"] = np.where(done["action"] == "SELL", -done["forward_return"], done["forward_return"])
    return done[columns].sort_values(["signal_id", "horizon"], kind="stable").reset_index(drop=True)


def evaluate_outcomes(session: Session, now: datetime | None = None,
                      horizons: Sequence[int] = HORIZONS) -> EvaluationResult:
    """Store the forward return of every signal whose horizon has passed (idempotent; batched by ticker)."""
    now = now or utcnow()
    result = EvaluationResult()
    pending = repository.pending_evaluations(session, horizons)
    result.pending = len(pending)
    if pending.empty:
        return result
    tickers = sorted(pending["ticker"].unique())
    result.tickers = len(tickers)
    for start in range(0, len(tickers), TICKER_BATCH):
        batch = tickers[start:start + TICKER_BATCH]
        subset = pending[pending["ticker"].isin(batch)]
        # A signal's base bar is on or after its session's midnight; a day's margin covers intraday mapping.
        first = (subset["bar_ts"].min() - pd.Timedelta(days=1)).to_pydatetime()
        bars = completed_daily_bars(load_bars_frame(session, batch, calendars.DAILY, start=first), now)
        outcomes = forward_returns(subset, bars)
        if outcomes.empty:
            continue
        # Column-wise to plain Python values (what the drivers take): far cheaper than per-row conversion.
        values = {column: (list(pd.DatetimeIndex(outcomes[column]).to_pydatetime()) if column.endswith("_ts")
                           else outcomes[column].tolist()) for column in outcomes.columns}
        rows = [{**dict(zip(values, row, strict=True)), "evaluated_at": now}
                for row in zip(*values.values(), strict=True)]
        repository.insert_outcomes(session, rows)
        for horizon, count in outcomes["horizon"].value_counts().items():
            result.stored[int(horizon)] = result.stored.get(int(horizon), 0) + int(count)
    session.flush()
    return result


@dataclass(frozen=True)
class LossStreak:
    """A strategy's trailing run of losing signals at one horizon."""

    strategy: str
    horizon: int
    length: int
    first_signal_id: int  # identifies the streak: it stays the same while the run goes on
    recent: list[dict[str, Any]]  # the newest losses, newest first


def loss_streaks(sequence: pd.DataFrame, horizon: int, min_length: int, shown: int = 10) -> list[LossStreak]:
    """Strategies whose newest `min_length` or more evaluated signals (in signal order) all lost."""
    streaks = []
    for strategy, group in sequence.groupby("strategy", sort=True):
        returns = group["signal_return"].to_numpy()
        non_losses = np.flatnonzero(returns >= 0)
        start = int(non_losses[-1]) + 1 if len(non_losses) else 0
        length = len(returns) - start
        if length < min_length:
            continue
        run = group.iloc[start:]
        recent = [{"signal_id": int(r.signal_id), "ticker": str(r.ticker), "action": str(r.action),
                   "bar_ts": r.bar_ts.isoformat(), "signal_return": float(r.signal_return)}
                  for r in run.iloc[::-1].head(shown).itertuples(index=False)]
        streaks.append(LossStreak(str(strategy), horizon, length, int(run["signal_id"].iloc[0]), recent))
    return streaks


def current_loss_streaks(session: Session, horizon: int, min_length: int) -> list[LossStreak]:
    """Loss streaks of at least `min_length` as of the newest outcomes, each traced back to its first loss."""
    per_strategy = max(64, 4 * min_length)
    while True:
        recent = repository.recent_outcomes(session, horizon, per_strategy)
        counts = recent.groupby("strategy").size()
        # A strategy whose every loaded signal lost may have started its streak earlier: its first loss names
        # the streak (the dedup key), so look further back until a non-loss or the first signal is in view.
        unbounded = [name for name, group in recent.groupby("strategy")
                     if counts[name] == per_strategy and (group["signal_return"] < 0).all()]
        if not unbounded:
            return loss_streaks(recent, horizon, min_length)
        per_strategy *= 8


def subscribers(session: Session, strategy: str) -> set[int]:
    """Users with an active alert rule covering `strategy` (a rule without strategies covers all of them)."""
    return {rule.user_id for rule in alerts_repository.active_rules(session)
            if not rule.strategies or strategy in rule.strategies}


def _message(streak: LossStreak) -> tuple[str, str, dict[str, Any]]:
    title = f"{streak.strategy}: {streak.length} losing signals in a row"
    lines = [f"The last {streak.length} evaluated signals of strategy '{streak.strategy}' all lost money "
             f"{streak.horizon} trading day(s) after they fired. Consider pausing or re-tuning it.", ""]
    lines += [f"- {s['bar_ts'][:10]} {s['ticker']} {s['action']}: {s['signal_return'] * 100:+.2f}%"
              for s in streak.recent]
    data = {"type": "signal_loss_streak", "strategy": streak.strategy, "horizon": streak.horizon,
            "streak_length": streak.length, "signal_ids": [s["signal_id"] for s in streak.recent]}
    return title, "\n".join(lines), data


def alert_loss_streaks(session: Session, horizon: int | None = None, min_length: int | None = None) -> dict[str, Any]:
    """Alert subscribers and admins of strategies on a losing streak, once per streak; returns what was sent."""
    settings = get_settings()
    horizon = horizon or settings.signal_loss_streak_horizon
    min_length = min_length or settings.signal_loss_streak_length
    streaks = current_loss_streaks(session, horizon, min_length)
    admins = set(users_repository.active_admin_ids(session))
    sent: dict[str, Any] = {"streaks": [], "users_notified": 0, "admins_notified": 0}
    for streak in streaks:
        title, body, data = _message(streak)
        # The streak's first losing signal names it: a longer run of the same streak is not a new alert.
        key = f"loss-streak:{streak.strategy}:h{streak.horizon}:s{streak.first_signal_id}"
        # Admins get the admin copy below; a second, identical notice would only be noise.
        for user_id in sorted(subscribers(session, streak.strategy) - admins):
            if notify_user(session, user_id, dedup_key=f"{key}:user:{user_id}", title=title, body=body,
                           data=data) is not None:
                sent["users_notified"] += 1
        sent["admins_notified"] += notify_admins(session, dedup_key=key, title=title, body=body, data=data)
        sent["streaks"].append({"strategy": streak.strategy, "length": streak.length,
                                "first_signal_id": streak.first_signal_id})
    if streaks:
        logger.warning("signal loss streaks", extra={"streaks": sent["streaks"]})
    return sent


@dataclass(frozen=True)
class GroupPerformance:
    """Aggregated signal returns of one group at one horizon."""

    key: str
    horizon: int
    count: int
    wins: int
    successes: int
    win_rate: float
    success_rate: float
    average_return: float
    std_return: float | None
    sharpe: float | None
    worst_loss: float | None


def summarise(key: str, horizon: int, count: int, total: float, total_sq: float, minimum: float, wins: int,
              successes: int) -> GroupPerformance:
    """Rates, mean, sample standard deviation, annualised Sharpe and worst loss from a group's sums."""
    mean = total / count
    std = None
    if count > 1:
        # Sample variance from the sums; clamped because rounding can make a zero variance slightly negative.
        std = math.sqrt(max(0.0, (total_sq - count * mean * mean) / (count - 1)))
    sharpe = mean / std * math.sqrt(TRADING_DAYS_PER_YEAR / horizon) if std is not None and std > 1e-12 else None
    return GroupPerformance(key=key, horizon=horizon, count=count, wins=wins, successes=successes,
                            win_rate=wins / count, success_rate=successes / count, average_return=mean,
                            std_return=std, sharpe=sharpe, worst_loss=minimum if minimum < 0 else None)


def performance_report(session: Session, horizon: int, group_by: str, threshold: float | None = None,
                       strategy: str | None = None, ticker: str | None = None, since: datetime | None = None,
                       interval: str | None = None) -> tuple[float, list[GroupPerformance]]:
    """Per-group performance of evaluated signals at `horizon`; returns the success threshold used and rows."""
    threshold = get_settings().signal_success_threshold if threshold is None else threshold
    rows = repository.aggregate(session, horizon, group_by, threshold, strategy, ticker, since, interval)
    return threshold, [summarise(str(key), horizon, int(count), float(total), float(total_sq), float(minimum),
                                 int(wins or 0), int(successes or 0))
                       for key, count, total, total_sq, minimum, wins, successes in rows if count]
