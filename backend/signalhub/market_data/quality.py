"""Data quality against the exchange calendar: gaps, unexpected bars, staleness, contiguous tails.

These functions report problems; they never fill, drop or shift bars on the caller's behalf
(`contiguous_tail` only selects the rows after the last gap).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import numpy as np
import pandas as pd

from signalhub.core.calendars import DAILY, bar_end, bar_ends, exchange_for_ticker, expected_bar_starts, is_open

GapKind = Literal["missing", "unexpected"]
# How far back/forward to look for the neighbouring expected bar; longer than any market closure
# in the calendars (the longest, Korean holidays around Chuseok 2017, is 10 days).
_SEARCH_WINDOW = pd.Timedelta(days=40)


@dataclass(frozen=True)
class Gap:
    """A run of absent expected bars ("missing") or of bars the calendar has no slot for ("unexpected")."""

    kind: GapKind
    start: pd.Timestamp  # first bar start of the run (UTC)
    end: pd.Timestamp  # last bar start of the run (UTC)
    count: int  # bars in the run
    before: pd.Timestamp | None  # last observed expected bar before the run
    after: pd.Timestamp | None  # first observed expected bar after the run

    @property
    def missing(self) -> int:
        """Number of expected bars absent in this run (0 for an unexpected run)."""
        return self.count if self.kind == "missing" else 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form (ISO timestamps)."""
        return {
            "kind": self.kind,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "count": self.count,
            "before": self.before.isoformat() if self.before is not None else None,
            "after": self.after.isoformat() if self.after is not None else None,
        }


def _as_index(ts: pd.Series | pd.DatetimeIndex | pd.DataFrame) -> pd.DatetimeIndex:
    """Observed bar starts as a sorted, unique, ns-resolution UTC index."""
    if isinstance(ts, pd.DataFrame):
        ts = ts["ts"]
    idx = pd.DatetimeIndex(ts)
    if len(idx) and idx.tz is None:
        raise ValueError("bar timestamps must be timezone-aware (UTC)")
    idx = idx.tz_convert("UTC") if len(idx) else pd.DatetimeIndex([], tz="UTC")
    return idx.as_unit("ns").unique().sort_values()


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(first, last) positions of each run of True values."""
    if not mask.any():
        return []
    padded = np.concatenate([[False], mask, [False]]).astype(np.int8)
    edges = np.diff(padded)
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1) - 1
    return list(zip(starts.tolist(), ends.tolist(), strict=True))


def find_gaps(
    ts: pd.Series | pd.DatetimeIndex | pd.DataFrame, exchange: str, interval: str
) -> list[Gap]:
    """Missing and unexpected bars of a series, in time order.

    "missing": bars the calendar expects between the first and the last observed *expected* bar
    that are absent (a stray out-of-calendar bar does not stretch the range). "unexpected":
    observed bars the calendar has no slot for (non-session day, outside regular hours, or a
    timestamp not on the bar grid, e.g. a daily bar not at midnight UTC); consecutive ones (no
    calendar slot between them) form one run. A DataFrame is read from its `ts` column.
    """
    obs = _as_index(ts)
    if obs.empty:
        return []
    expected = expected_bar_starts(exchange, interval, obs[0], obs[-1]).as_unit("ns")
    is_expected = obs.isin(expected)
    gaps: list[Gap] = []

    seen = obs[is_expected]
    if len(seen):
        window = expected[(expected >= seen[0]) & (expected <= seen[-1])]
        absent = ~window.isin(seen)
        for i, j in _runs(np.asarray(absent)):
            gaps.append(Gap("missing", window[i], window[j], j - i + 1,
                            before=window[i - 1], after=window[j + 1]))

    stray = obs[~is_expected]
    if len(stray):
        # Unexpected bars with no calendar slot between them (expected, observed or not) form one run.
        slot = expected.searchsorted(stray)
        breaks = np.flatnonzero(np.diff(slot) != 0) + 1
        for part in np.split(np.arange(len(stray)), breaks):
            first, last = stray[part[0]], stray[part[-1]]
            k_before, k_after = seen.searchsorted(first), seen.searchsorted(last, side="right")
            gaps.append(Gap("unexpected", first, last, len(part),
                            before=seen[k_before - 1] if k_before > 0 else None,
                            after=seen[k_after] if k_after < len(seen) else None))
    gaps.sort(key=lambda g: (g.start, g.kind))
    return gaps


def missing_gaps(gaps: list[Gap]) -> list[Gap]:
    """Only the runs of missing bars."""
    return [g for g in gaps if g.kind == "missing"]


def contiguous_tail(
    bars: pd.DataFrame, exchange: str, interval: str, *, drop_unexpected: bool = False
) -> pd.DataFrame:
    """Rows after the last run of missing bars, so indicators are never computed across a gap.

    Unexpected bars are kept unless `drop_unexpected`; they are not holes in the series. Staleness
    (bars missing after the last observed one) is `check_freshness`'s concern, not this one's.
    """
    gaps = find_gaps(bars["ts"], exchange, interval) if not bars.empty else []
    holes = missing_gaps(gaps)
    ts = pd.DatetimeIndex(bars["ts"]).tz_convert("UTC") if not bars.empty else None
    keep = np.ones(len(bars), dtype=bool)
    if holes and ts is not None:
        keep &= np.asarray(ts > holes[-1].end)
    if drop_unexpected and ts is not None:
        stray = [g for g in gaps if g.kind == "unexpected"]
        if stray:
            expected = expected_bar_starts(exchange, interval, ts.min(), ts.max())
            keep &= np.asarray(ts.isin(expected))
    return bars.loc[keep].reset_index(drop=True)


@dataclass(frozen=True)
class Freshness:
    """Whether the newest bar is as recent as the calendar says it should be at `now`."""

    stale: bool
    market_open: bool
    last_bar: pd.Timestamp | None
    expected_last_bar: pd.Timestamp | None  # newest bar whose period has completed by `now`
    overdue_since: pd.Timestamp | None  # when the first bar after `last_bar` became complete
    lag: timedelta  # now - overdue_since (zero when up to date)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        def iso(value: pd.Timestamp | None) -> str | None:
            return value.isoformat() if value is not None else None

        return {"stale": self.stale, "market_open": self.market_open, "last_bar": iso(self.last_bar),
                "expected_last_bar": iso(self.expected_last_bar),
                "overdue_since": iso(self.overdue_since), "lag_seconds": self.lag.total_seconds()}


def _utc(value: datetime) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    if ts.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}: pass an aware datetime")
    return ts.tz_convert("UTC")


def last_expected_bar(exchange: str, interval: str, now: datetime) -> pd.Timestamp | None:
    """Start of the newest bar the calendar expects to be complete at `now` (None if none in reach)."""
    at = _utc(now)
    starts = expected_bar_starts(exchange, interval, at - _SEARCH_WINDOW, at)
    if starts.empty:
        return None
    done = starts[bar_ends(exchange, interval, starts) <= at]
    return done[-1] if len(done) else None


def _next_expected_bar(exchange: str, interval: str, after: pd.Timestamp) -> pd.Timestamp | None:
    starts = expected_bar_starts(exchange, interval, after + pd.Timedelta(1, "ns"), after + _SEARCH_WINDOW)
    return starts[0] if len(starts) else None


def check_freshness(
    last_bar_ts: datetime | None, exchange: str, interval: str, now: datetime, tolerance: timedelta
) -> Freshness:
    """Freshness of a series whose newest bar starts at `last_bar_ts`.

    Stale when a bar the calendar expects after `last_bar_ts` completed more than `tolerance` ago
    (whether the market is still open or has closed since). Not stale when the newest bar is the
    newest one expected (weekend, holiday, overnight). No bar at all is stale.
    """
    at = _utc(now)
    market_open = is_open(exchange, at)
    expected_last = last_expected_bar(exchange, interval, at)
    if last_bar_ts is None:
        return Freshness(True, market_open, None, expected_last, None, timedelta(0))
    last = _utc(last_bar_ts)
    if expected_last is None or last >= expected_last:
        return Freshness(False, market_open, last, expected_last, None, timedelta(0))
    nxt = _next_expected_bar(exchange, interval, last)
    due = bar_end(exchange, interval, nxt) if nxt is not None else last
    lag = max(at - due, pd.Timedelta(0)).to_pytimedelta()
    return Freshness(lag > tolerance, market_open, last, expected_last, due, lag)


def is_stale(
    last_bar_ts: datetime | None, exchange: str, interval: str, now: datetime, tolerance: timedelta
) -> bool:
    """Shorthand for `check_freshness(...).stale`."""
    return check_freshness(last_bar_ts, exchange, interval, now, tolerance).stale


def summarise_gaps(gaps: list[Gap], *, max_items: int = 20) -> dict[str, Any]:
    """Counts and the most recent `max_items` runs of each kind, for an API or CLI report."""
    holes = [g for g in gaps if g.kind == "missing"]
    stray = [g for g in gaps if g.kind == "unexpected"]
    return {
        "missing_runs": len(holes),
        "missing_bars": sum(g.count for g in holes),
        "unexpected_runs": len(stray),
        "unexpected_bars": sum(g.count for g in stray),
        "largest_missing_run": max((g.count for g in holes), default=0),
        "last_missing": holes[-1].to_dict() if holes else None,
        "missing": [g.to_dict() for g in holes[-max_items:]] if max_items else [],
        "unexpected": [g.to_dict() for g in stray[-max_items:]] if max_items else [],
        "truncated": len(holes) > max_items or len(stray) > max_items,
    }


def quality_report(
    ts: pd.Series | pd.DatetimeIndex | pd.DataFrame, exchange: str, interval: str, *,
    ticker: str | None = None, max_items: int = 20,
) -> dict[str, Any]:
    """Gap report for one series: observed range and bar count plus `summarise_gaps`."""
    obs = _as_index(ts)
    report: dict[str, Any] = {
        "ticker": ticker,
        "exchange": exchange,
        "interval": interval,
        "bars": len(obs),
        "first": obs[0].isoformat() if len(obs) else None,
        "last": obs[-1].isoformat() if len(obs) else None,
    }
    report.update(summarise_gaps(find_gaps(obs, exchange, interval), max_items=max_items))
    if interval == DAILY:
        report["calendar_sessions"] = (
            len(expected_bar_starts(exchange, interval, obs[0], obs[-1])) if len(obs) else 0
        )
    return report


def gap_breaks(frame: pd.DataFrame, interval: str) -> np.ndarray:
    """Per row of a long (ticker, ts) frame sorted by ticker and ts: does an unfilled gap precede this bar?

    Vectorised per exchange: each bar is placed on its calendar's grid of expected bars, and a row breaks
    when bars the calendar expects lie between it and the ticker's previous row."""
    breaks = np.zeros(len(frame), dtype=bool)
    if frame.empty:
        return breaks
    tickers = frame["ticker"].to_numpy()
    ts = pd.DatetimeIndex(pd.to_datetime(frame["ts"], utc=True))
    codes, uniques = pd.factorize(tickers)
    exchanges = np.array([exchange_for_ticker(t) for t in uniques], dtype=object)[codes]
    positions = np.zeros(len(frame), dtype=np.int64)
    for exchange in np.unique(exchanges):
        rows = exchanges == exchange
        grid = expected_bar_starts(exchange, interval, ts[rows].min(), ts[rows].max())
        positions[rows] = grid.searchsorted(ts[rows], side="right")  # expected bars at or before each bar
    same_ticker = np.r_[False, tickers[1:] == tickers[:-1]]
    # Consecutive bars cover consecutive grid slots; more than one slot between them means missing bars.
    breaks[1:] = same_ticker[1:] & (positions[1:] - positions[:-1] > 1)
    return breaks
