"""Exchange trading calendars (KRX, NYSE): sessions, trading hours and expected bar timestamps.

Everything returned is aware UTC; exchange time zones are used only inside this module. Built on
exchange-calendars, constructed from `CALENDAR_START` (the library's default of ~20 years back would
not cover the bundled Korean history, which starts in 1990) to the library's default end (~1 year
ahead of today).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import exchange_calendars as xcals
import numpy as np
import pandas as pd

XKRX = "XKRX"
XNYS = "XNYS"
EXCHANGES: tuple[str, ...] = (XKRX, XNYS)
KST = ZoneInfo("Asia/Seoul")  # the XKRX calendar's zone; KIS times are in it
# Earliest bundled bar is 005930.KS on 1990-09-11; both calendars start here so any bundled or
# yfinance-era date is inside the calendar bounds.
CALENDAR_START = pd.Timestamp("1990-01-01")
_KR_SUFFIXES = (".KS", ".KQ")

INTERVAL_MINUTES: dict[str, int] = {"1m": 1, "5m": 5, "15m": 15, "30m": 30, "60m": 60}
DAILY = "1d"
_NAT = np.iinfo(np.int64).min  # NaT as int64 nanoseconds


def exchange_for_ticker(ticker: str) -> str:
    """Exchange (MIC) a ticker trades on: `.KS`/`.KQ` suffix -> XKRX, anything else -> XNYS."""
    return XKRX if ticker.upper().endswith(_KR_SUFFIXES) else XNYS


def interval_step(interval: str) -> pd.Timedelta:
    """Length of one intraday bar; ValueError for `1d` or an unknown interval."""
    try:
        return pd.Timedelta(minutes=INTERVAL_MINUTES[interval])
    except KeyError:
        raise ValueError(f"not an intraday interval: {interval!r}") from None


def _check_exchange(exchange: str) -> str:
    if exchange not in EXCHANGES:
        raise ValueError(f"unsupported exchange {exchange!r}; expected one of {EXCHANGES}")
    return exchange


@cache
def get_calendar(exchange: str) -> xcals.ExchangeCalendar:
    """The exchange-calendars calendar for `exchange`, built once per process."""
    with warnings.catch_warnings():
        # exchange-calendars 4.13 still uses Series.values on tz-aware columns (pandas 3 deprecation);
        # nothing actionable for us, and it would repeat in every process's logs.
        warnings.filterwarnings("ignore", message="Series.values returning an ndarray")
        return xcals.get_calendar(_check_exchange(exchange), start=CALENDAR_START)


@dataclass(frozen=True)
class _Schedule:
    """Session schedule as int64 nanosecond arrays, for fast vectorised look-ups."""

    sessions: pd.DatetimeIndex  # naive session dates
    opens: np.ndarray
    closes: np.ndarray
    break_starts: np.ndarray  # NaT (min int64) where the session has no break
    break_ends: np.ndarray
    boundaries: np.ndarray  # every open, break start/end and close, sorted


@cache
def _schedule(exchange: str) -> _Schedule:
    sched = get_calendar(exchange).schedule

    def ns(column: str) -> np.ndarray:
        return sched[column].dt.tz_convert(None).to_numpy(dtype="datetime64[ns]").astype(np.int64)

    opens, closes, b_start, b_end = ns("open"), ns("close"), ns("break_start"), ns("break_end")
    boundaries = np.sort(np.concatenate([opens, closes, b_start[b_start != _NAT], b_end[b_end != _NAT]]))
    return _Schedule(pd.DatetimeIndex(sched.index), opens, closes, b_start, b_end, boundaries)


def _utc(at: datetime | pd.Timestamp) -> pd.Timestamp:
    """An aware instant as a UTC Timestamp; naive input is refused (it is ambiguous across exchanges)."""
    ts = pd.Timestamp(at)
    if ts.tzinfo is None:
        raise ValueError(f"naive datetime {at!r}: pass an aware datetime")
    return ts.tz_convert("UTC")


def _ts(ns: int) -> pd.Timestamp:
    return pd.Timestamp(ns, tz="UTC")


def _session_date(value: date | datetime | pd.Timestamp | str) -> pd.Timestamp:
    """A session label (naive midnight) from a date-like value; an aware value uses its own date."""
    ts = pd.Timestamp(value)
    if ts.tzinfo is not None:
        ts = ts.tz_localize(None)
    return ts.normalize()


def is_session(exchange: str, day: date | datetime | pd.Timestamp | str) -> bool:
    """Whether the exchange trades on `day` (a calendar date)."""
    label = _session_date(day)
    sessions = _schedule(exchange).sessions
    i = sessions.searchsorted(label)
    return bool(i < len(sessions) and sessions[i] == label)


def is_open(exchange: str, at: datetime) -> bool:
    """Whether the exchange is in regular trading at instant `at` (open inclusive, close exclusive).

    Holidays, early closes, late opens and lunch breaks (KRX until 2000) are honoured.
    """
    t = _utc(at).value
    s = _schedule(exchange)
    i = int(np.searchsorted(s.opens, t, side="right")) - 1
    if i < 0 or t >= s.closes[i]:
        return False
    return not (s.break_starts[i] != _NAT and s.break_starts[i] <= t < s.break_ends[i])


def sessions_between(
    exchange: str, start_date: date | datetime | pd.Timestamp | str, end_date: date | datetime | pd.Timestamp | str
) -> pd.DatetimeIndex:
    """Session dates (naive midnight labels) from `start_date` to `end_date` inclusive.

    The range is clipped to the calendar's bounds rather than raising.
    """
    sessions = _schedule(exchange).sessions
    lo = sessions.searchsorted(_session_date(start_date), side="left")
    hi = sessions.searchsorted(_session_date(end_date), side="right")
    return sessions[lo:hi]


def _session_index(exchange: str, day: date | datetime | pd.Timestamp | str) -> int:
    label = _session_date(day)
    sessions = _schedule(exchange).sessions
    i = int(sessions.searchsorted(label))
    if i >= len(sessions) or sessions[i] != label:
        raise ValueError(f"{label.date()} is not a {exchange} session")
    return i


def session_open_utc(exchange: str, day: date | datetime | pd.Timestamp | str) -> pd.Timestamp:
    """Regular open of the session on `day`, UTC; ValueError if the exchange does not trade that day."""
    return _ts(int(_schedule(exchange).opens[_session_index(exchange, day)]))


def session_close_utc(exchange: str, day: date | datetime | pd.Timestamp | str) -> pd.Timestamp:
    """Regular close of the session on `day`, UTC (early closes honoured); ValueError on a non-session."""
    return _ts(int(_schedule(exchange).closes[_session_index(exchange, day)]))


def last_close(exchange: str, at: datetime) -> pd.Timestamp | None:
    """The latest session close at or before `at`, or None before the calendar's first close."""
    t = _utc(at).value
    closes = _schedule(exchange).closes
    i = int(np.searchsorted(closes, t, side="right")) - 1
    return _ts(int(closes[i])) if i >= 0 else None


def next_open(exchange: str, at: datetime) -> pd.Timestamp | None:
    """The first session open strictly after `at`, or None past the calendar's end."""
    t = _utc(at).value
    opens = _schedule(exchange).opens
    i = int(np.searchsorted(opens, t, side="right"))
    return _ts(int(opens[i])) if i < len(opens) else None


def next_close(exchange: str, at: datetime) -> pd.Timestamp | None:
    """The first session close strictly after `at` (today's close while open), or None past the end."""
    t = _utc(at).value
    closes = _schedule(exchange).closes
    i = int(np.searchsorted(closes, t, side="right"))
    return _ts(int(closes[i])) if i < len(closes) else None


def daily_bar_ts(day: date | datetime | pd.Timestamp | str) -> pd.Timestamp:
    """The platform's timestamp for a daily bar: midnight UTC of the session date."""
    return _session_date(day).tz_localize("UTC")


def _bounds(start: datetime | date, end: datetime | date) -> tuple[pd.Timestamp, pd.Timestamp]:
    """UTC bounds; naive values are UTC and a plain `date` as `end` includes that whole UTC day."""
    lo, hi = pd.Timestamp(start), pd.Timestamp(end)
    lo = lo.tz_localize("UTC") if lo.tzinfo is None else lo.tz_convert("UTC")
    hi = hi.tz_localize("UTC") if hi.tzinfo is None else hi.tz_convert("UTC")
    if not isinstance(end, datetime):
        hi = hi + pd.Timedelta(days=1) - pd.Timedelta(1, "ns")
    return lo, hi


def _segments(exchange: str, lo: pd.Timestamp, hi: pd.Timestamp) -> tuple[np.ndarray, np.ndarray]:
    """Regular trading periods (start, end ns) of the sessions around [lo, hi]; breaks split a session."""
    s = _schedule(exchange)
    first = max(int(np.searchsorted(s.closes, lo.value, side="right")), 0)
    last = int(np.searchsorted(s.opens, hi.value, side="right"))
    opens, closes = s.opens[first:last], s.closes[first:last]
    b_start, b_end = s.break_starts[first:last], s.break_ends[first:last]
    has_break = b_start != _NAT
    starts = np.concatenate([opens, b_end[has_break]])
    ends = np.concatenate([np.where(has_break, b_start, closes), closes[has_break]])
    order = np.argsort(starts, kind="stable")
    return starts[order], ends[order]


def expected_bar_starts(
    exchange: str, interval: str, start: datetime | date, end: datetime | date
) -> pd.DatetimeIndex:
    """Bar START timestamps (UTC) the calendar expects with `start <= ts <= end`.

    `1d`: one per session at midnight UTC of the session date. Intraday: every bar start within
    regular hours, stepping from each session's open (and from the end of a lunch break), so 60m
    NYSE bars start at :30; the last bar before a close may be shorter; early closes honoured.
    Naive values are taken as UTC; a plain date as `end` includes that whole UTC day.
    """
    lo, hi = _bounds(start, end)
    if interval == DAILY:
        sessions = sessions_between(exchange, lo - pd.Timedelta(days=1), hi + pd.Timedelta(days=1))
        stamps = pd.DatetimeIndex(sessions.tz_localize("UTC").as_unit("ns"), freq=None)
        return stamps[(stamps >= lo) & (stamps <= hi)]
    step = interval_step(interval).value
    seg_start, seg_end = _segments(exchange, lo, hi)
    counts = -((seg_start - seg_end) // step)  # ceil division: a trailing short bar still counts
    offsets = np.arange(int(counts.sum()), dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
    stamps_ns = np.repeat(seg_start, counts) + offsets * step
    stamps_ns = stamps_ns[(stamps_ns >= lo.value) & (stamps_ns <= hi.value)]
    return pd.DatetimeIndex(stamps_ns.astype("datetime64[ns]")).tz_localize("UTC")


def bar_end(exchange: str, interval: str, bar_start: datetime | pd.Timestamp) -> pd.Timestamp:
    """When a bar starting at `bar_start` is complete (UTC).

    `1d`: the session's close (for a date the calendar does not list, the end of that day in the
    exchange's time zone). Intraday: start + interval, cut at the close or lunch break it runs into.
    """
    ts = _utc(bar_start)
    return pd.Timestamp(bar_ends(exchange, interval, pd.DatetimeIndex([ts]))[0])


def bar_ends(exchange: str, interval: str, bar_starts: pd.DatetimeIndex | pd.Series) -> pd.DatetimeIndex:
    """Vectorised `bar_end` for many bar starts (aware UTC)."""
    starts = pd.DatetimeIndex(bar_starts)
    if starts.tz is None:
        raise ValueError("bar starts must be timezone-aware")
    starts = starts.tz_convert("UTC").as_unit("ns")
    s = _schedule(exchange)
    if interval == DAILY:
        labels = starts.tz_localize(None).normalize()
        idx = s.sessions.get_indexer(labels)
        tz = get_calendar(exchange).tz
        fallback = (labels + pd.Timedelta(days=1)).tz_localize(tz).tz_convert("UTC").as_unit("ns")
        ends = np.where(idx >= 0, s.closes[np.clip(idx, 0, None)], fallback.asi8)
        return pd.DatetimeIndex(ends.astype("datetime64[ns]")).tz_localize("UTC")
    step = interval_step(interval).value
    t = starts.asi8
    raw_end = t + step
    # Cut at the first period boundary (break start, close) strictly after the bar's start.
    boundaries = s.boundaries
    j = np.searchsorted(boundaries, t, side="right")
    nxt = np.where(j < len(boundaries), boundaries[np.clip(j, 0, len(boundaries) - 1)], raw_end)
    return pd.DatetimeIndex(np.minimum(raw_end, nxt).astype("datetime64[ns]")).tz_localize("UTC")


def period_anchors(exchange: str, timestamps: pd.DatetimeIndex) -> pd.DatetimeIndex:
    """For each instant, the latest schedule boundary (open, break start/end, close) at or before it.

    Bars are bucketed from these anchors so resampled bars follow each session's clock and never
    straddle an open, a lunch break or a close.
    """
    s = _schedule(exchange)
    boundaries = s.boundaries
    t = pd.DatetimeIndex(timestamps).tz_convert("UTC").as_unit("ns").asi8
    j = np.searchsorted(boundaries, t, side="right") - 1
    # Before the calendar's first boundary: anchor on UTC midnight (only for out-of-range data).
    midnight = t - (t % int(timedelta(days=1).total_seconds() * 1e9))
    anchors = np.where(j >= 0, boundaries[np.clip(j, 0, None)], midnight)
    return pd.DatetimeIndex(anchors.astype("datetime64[ns]")).tz_localize("UTC")
