"""Replay provider: serves the bundled real market history (`database/seed`), optionally "live".

Coverage is exactly what is bundled (see `database/seed/SOURCES.md`): daily bars for 10 tickers
(`daily/<TICKER>.csv`) and 1m bars only for the few bundled days of AAPL, AMZN, MSFT, SPY and
005930.KS (`intraday/<TICKER>_1m_<dates>_<source>.csv`); 5m..60m are resampled from those 1m bars.

Conventions:
- daily `ts` is midnight UTC of the session date; intraday `ts` is the bar start in UTC (Alpha
  Vantage files label the bar end and are shifted back one minute on load);
- prices are served as in the files: the daily `close` (split-adjusted for US tickers, raw KRW
  for Korean ones), never `adj_close`;
- intraday bars outside regular trading hours (Alpaca's extended hours, Yahoo's trailing
  daily-close row) are left out unless `regular_hours_only=False`, as a live regular-hours feed
  would; the quality module reports them on the raw files.

Replay "as if live": with a `ReplayClock`, only bars whose period has completed by the clock's
`now()` are returned (a daily bar after its session's close, an intraday bar after its end). The
clock's wall-clock anchor is shared by the API and worker processes through a JSON file
(`var/replay-clock.json`, see `ReplayClock.load_or_create`).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from signalhub.core.calendars import (
    DAILY,
    XKRX,
    bar_ends,
    exchange_for_ticker,
    expected_bar_starts,
    get_calendar,
    interval_step,
    period_anchors,
)
from signalhub.core.config import PROJECT_ROOT, VAR_DIR, Settings, get_settings
from signalhub.core.time import as_utc, utcnow
from signalhub.market_data.providers.base import (
    BAR_COLUMNS,
    INTERVALS,
    FetchResult,
    FetchStatus,
    Interval,
    empty_bars,
    normalise_bars,
)

DEFAULT_SEED_DIR = PROJECT_ROOT / "database" / "seed"
CLOCK_FILE = VAR_DIR / "replay-clock.json"
_NOT_BAR_FILES = ("corporate_actions",)  # CSVs in daily/ that are not `<TICKER>.csv` bars
_BAR_END_SOURCES = frozenset({"alphavantage"})  # sources whose timestamps label the bar end


@dataclass(frozen=True)
class StockInfo:
    """Reference data for one bundled instrument (for seeding the `stocks` table)."""

    ticker: str
    name: str
    exchange: str  # MIC: XKRX or XNYS (the calendar; NASDAQ listings trade on the same hours)
    currency: str
    sector: str | None
    industry: str | None
    asset_type: str = "equity"  # "equity" or "etf"


STOCKS: tuple[StockInfo, ...] = (
    StockInfo("005930.KS", "Samsung Electronics Co., Ltd.", "XKRX", "KRW", "Technology", "Consumer Electronics"),
    StockInfo("000660.KS", "SK hynix Inc.", "XKRX", "KRW", "Technology", "Semiconductors"),
    StockInfo("035420.KS", "NAVER Corporation", "XKRX", "KRW", "Communication Services",
              "Internet Content & Information"),
    StockInfo("AAPL", "Apple Inc.", "XNYS", "USD", "Technology", "Consumer Electronics"),
    StockInfo("MSFT", "Microsoft Corporation", "XNYS", "USD", "Technology", "Software - Infrastructure"),
    StockInfo("NVDA", "NVIDIA Corporation", "XNYS", "USD", "Technology", "Semiconductors"),
    StockInfo("TSLA", "Tesla, Inc.", "XNYS", "USD", "Consumer Cyclical", "Auto Manufacturers"),
    StockInfo("AMZN", "Amazon.com, Inc.", "XNYS", "USD", "Consumer Cyclical", "Internet Retail"),
    StockInfo("GOOGL", "Alphabet Inc. (Class A)", "XNYS", "USD", "Communication Services",
              "Internet Content & Information"),
    StockInfo("SPY", "SPDR S&P 500 ETF Trust", "XNYS", "USD", None, None, asset_type="etf"),
)
_STOCKS_BY_TICKER = {s.ticker: s for s in STOCKS}


def stock_info(ticker: str) -> StockInfo | None:
    """Static reference data for a bundled ticker, or None."""
    return _STOCKS_BY_TICKER.get(ticker.upper())


def currency_for_ticker(ticker: str) -> str:
    """KRW for Korean listings, USD otherwise."""
    return "KRW" if exchange_for_ticker(ticker) == XKRX else "USD"


# --- replay clock -----------------------------------------------------------------------------


class ReplayClock:
    """Simulated market time: `now() = start + (wall_now - anchor) * speed`, never before `start`."""

    def __init__(self, start: datetime, speed: float = 1.0, anchor: datetime | None = None,
                 wall: Callable[[], datetime] = utcnow) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.start = as_utc(start)
        self.speed = float(speed)
        self._wall = wall
        self.anchor = as_utc(anchor) if anchor is not None else as_utc(wall())

    def now(self) -> datetime:
        """The simulated current instant (aware UTC)."""
        elapsed = max(self._wall() - self.anchor, timedelta(0))
        return self.start + elapsed * self.speed

    def to_dict(self) -> dict[str, Any]:
        """The persisted form."""
        return {"start": self.start.isoformat(), "speed": self.speed, "anchor": self.anchor.isoformat()}

    def __repr__(self) -> str:
        return f"ReplayClock(start={self.start.isoformat()}, speed={self.speed}, anchor={self.anchor.isoformat()})"

    @classmethod
    def load_or_create(cls, start: datetime, speed: float = 1.0, *, path: Path | None = None,
                       reset: bool = False, wall: Callable[[], datetime] = utcnow) -> ReplayClock:
        """The clock persisted at `path` (default `var/replay-clock.json`), creating it on first use.

        The file pins the wall-clock anchor so every process (API, worker, beat) sees the same
        simulated time. It is reused while its start and speed equal the requested ones; a
        different start or speed, or `reset=True`, writes a fresh anchor (replay restarts now).
        """
        path = path or CLOCK_FILE
        start = as_utc(start)
        if not reset:
            existing = _read_clock(path, wall)
            if existing is not None and existing.start == start and existing.speed == float(speed):
                return existing
        clock = cls(start, speed, wall=wall)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".replay-clock-", suffix=".json")
        try:
            with os.fdopen(fd, "w") as fh:
                json.dump(clock.to_dict(), fh)
            if reset or path.exists():
                os.replace(tmp, path)
            else:
                try:
                    # link() refuses an existing target: exactly one of several racing processes
                    # creates the file, and never a half-written one.
                    os.link(tmp, path)
                except FileExistsError:
                    winner = _read_clock(path, wall)
                    if winner is not None and winner.start == start and winner.speed == float(speed):
                        return winner
                    os.replace(tmp, path)
        finally:
            Path(tmp).unlink(missing_ok=True)
        return clock


def _read_clock(path: Path, wall: Callable[[], datetime]) -> ReplayClock | None:
    try:
        data = json.loads(path.read_text())
        return ReplayClock(datetime.fromisoformat(data["start"]), float(data["speed"]),
                           anchor=datetime.fromisoformat(data["anchor"]), wall=wall)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def replay_clock_from_settings(settings: Settings | None = None, *, path: Path | None = None,
                               reset: bool = False) -> ReplayClock | None:
    """The shared clock for `REPLAY_START`/`REPLAY_SPEED`, or None (serve all history) when unset."""
    settings = settings or get_settings()
    if settings.replay_start is None:
        return None
    return ReplayClock.load_or_create(settings.replay_start, settings.replay_speed, path=path, reset=reset)


# --- loading (cached) -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Series:
    bars: pd.DataFrame  # normalised BAR_COLUMNS
    ends: np.ndarray  # bar end per row, int64 ns UTC (when the bar becomes visible)
    files: tuple[str, ...]


@dataclass(frozen=True)
class _Files:
    daily: dict[str, Path]
    intraday: dict[str, list[Path]]

    @property
    def tickers(self) -> set[str]:
        return set(self.daily) | set(self.intraday)


def _signature(paths: Sequence[Path]) -> tuple[tuple[str, int, int], ...]:
    out = []
    for p in paths:
        st = p.stat()
        out.append((str(p), st.st_mtime_ns, st.st_size))
    return tuple(out)


def _intraday_files(seed_dir: Path) -> dict[str, list[Path]]:
    files: dict[str, list[Path]] = {}
    folder = seed_dir / "intraday"
    if folder.is_dir():
        for path in sorted(folder.glob("*_1m_*.csv")):
            files.setdefault(path.name.split("_1m_", 1)[0].upper(), []).append(path)
    return files


def _daily_files(seed_dir: Path) -> dict[str, Path]:
    folder = seed_dir / "daily"
    if not folder.is_dir():
        return {}
    return {p.stem.upper(): p for p in sorted(folder.glob("*.csv"))
            if not p.stem.startswith(_NOT_BAR_FILES)}


@lru_cache(maxsize=64)
def _load_daily(signature: tuple[tuple[str, int, int], ...], exchange: str) -> _Series:
    path = signature[0][0]
    raw = pd.read_csv(path, usecols=["date", "open", "high", "low", "close", "volume"],
                      dtype={"date": str})
    raw["ts"] = pd.to_datetime(raw["date"], format="%Y-%m-%d", utc=True)
    bars = _ns(normalise_bars(raw))
    ends = bar_ends(exchange, DAILY, pd.DatetimeIndex(bars["ts"])).asi8
    return _Series(bars, ends, (Path(path).name,))


def _read_intraday(path: str) -> pd.DataFrame:
    raw = pd.read_csv(path, usecols=["datetime", "open", "high", "low", "close", "volume"])
    raw["ts"] = pd.to_datetime(raw["datetime"], utc=True)
    if Path(path).stem.rsplit("_", 1)[-1].lower() in _BAR_END_SOURCES:
        raw["ts"] = raw["ts"] - pd.Timedelta(minutes=1)
    return raw


@lru_cache(maxsize=64)
def _load_intraday(signature: tuple[tuple[str, int, int], ...], exchange: str, interval: str,
                   regular_hours_only: bool) -> _Series:
    frames = [_read_intraday(path) for path, _, _ in signature]
    bars = _ns(normalise_bars(pd.concat(frames, ignore_index=True)))
    ts = pd.DatetimeIndex(bars["ts"])
    if regular_hours_only and len(bars):
        regular = expected_bar_starts(exchange, "1m", ts[0], ts[-1])
        bars = bars.loc[np.asarray(ts.isin(regular))].reset_index(drop=True)
    if interval != "1m":
        bars = resample_bars(bars, exchange, interval)
    ends = bar_ends(exchange, interval, pd.DatetimeIndex(bars["ts"])).asi8
    return _Series(bars, ends, tuple(Path(p).name for p, _, _ in signature))


def _ns(bars: pd.DataFrame) -> pd.DataFrame:
    bars["ts"] = bars["ts"].dt.as_unit("ns")
    return bars


def resample_bars(bars: pd.DataFrame, exchange: str, interval: str) -> pd.DataFrame:
    """Aggregate 1m bars to `interval` on each session's clock (first/max/min/last/sum).

    Buckets start at the session open (and at break ends / the close for bars outside regular
    hours), so no bar straddles an open, lunch break or close; a bucket missing some minutes is
    built from the minutes present.
    """
    if bars.empty:
        return empty_bars()
    step = interval_step(interval).value
    ts = pd.DatetimeIndex(bars["ts"]).tz_convert("UTC").as_unit("ns")
    anchors = period_anchors(exchange, ts).asi8
    t = ts.asi8
    buckets = anchors + ((t - anchors) // step) * step
    grouped = bars.assign(ts=pd.DatetimeIndex(buckets.astype("datetime64[ns]")).tz_localize("UTC")).groupby(
        "ts", sort=True)
    out = grouped.agg(open=("open", "first"), high=("high", "max"), low=("low", "min"),
                      close=("close", "last"), volume=("volume", "sum")).reset_index()
    return out.loc[:, BAR_COLUMNS]


# --- provider ---------------------------------------------------------------------------------


class ReplayProvider:
    """Market data from the bundled CSV history; with a clock, replayed forward without look-ahead."""

    name = "replay"

    def __init__(self, seed_dir: Path | str | None = None, clock: ReplayClock | None = None, *,
                 regular_hours_only: bool = True) -> None:
        self.seed_dir = Path(seed_dir) if seed_dir is not None else DEFAULT_SEED_DIR
        self.clock = clock
        self.regular_hours_only = regular_hours_only

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> ReplayProvider:
        """A provider on the default seed directory with the shared clock from settings (if any)."""
        return cls(clock=replay_clock_from_settings(settings))

    def now(self) -> datetime:
        """Current time as this provider sees it: the replay clock's, else the wall clock."""
        return self.clock.now() if self.clock is not None else utcnow()

    def list_tickers(self, interval: Interval | None = None) -> list[str]:
        """Tickers with bundled data (for `interval`, if given: `1d` daily files, intraday 1m files)."""
        files = self._files()
        if interval is None:
            return sorted(files.tickers)
        return sorted(files.daily if interval == DAILY else files.intraday)

    def list_stocks(self) -> list[StockInfo]:
        """Reference data for every bundled ticker (name, exchange, currency, sector, industry)."""
        out = []
        for ticker in self.list_tickers():
            info = stock_info(ticker)
            if info is None:
                exchange = exchange_for_ticker(ticker)
                info = StockInfo(ticker, ticker, exchange, currency_for_ticker(ticker), None, None)
            out.append(info)
        return out

    def history(self, ticker: str, interval: Interval) -> pd.DataFrame:
        """Every bundled bar of `ticker` at `interval`, ignoring the clock (empty if none)."""
        series = self._series(ticker.upper(), interval)
        return series.bars.copy() if series is not None else empty_bars()

    def _series(self, ticker: str, interval: str, files: _Files | None = None) -> _Series | None:
        files = files or self._files()
        exchange = exchange_for_ticker(ticker)
        if interval == DAILY:
            path = files.daily.get(ticker)
            return _load_daily(_signature([path]), exchange) if path else None
        paths = files.intraday.get(ticker)
        if not paths:
            return None
        return _load_intraday(_signature(paths), exchange, interval, self.regular_hours_only)

    def _files(self) -> _Files:
        return _Files(_daily_files(self.seed_dir), _intraday_files(self.seed_dir))

    def _meta(self, ticker: str, files: Sequence[str]) -> dict[str, Any]:
        exchange = exchange_for_ticker(ticker)
        info = stock_info(ticker)
        meta: dict[str, Any] = {
            "symbol": ticker,
            "currency": currency_for_ticker(ticker),
            "exchange": exchange,
            "timezone": str(get_calendar(exchange).tz),
            "source": "replay",
            "files": list(files),
        }
        if info is not None:
            meta.update(name=info.name, sector=info.sector, industry=info.industry,
                        instrument_type=info.asset_type.upper())
        if self.clock is not None:
            meta["replay_now"] = self.clock.now().isoformat()
        return meta

    def fetch_bars(
        self, tickers: Sequence[str], interval: Interval, start: datetime | None, end: datetime | None
    ) -> dict[str, FetchResult]:
        """Bars with `start <= ts < end` per ticker (either bound optional; for `1d` `start` counts from
        its UTC date, like the Yahoo provider), only completed ones when a clock is set; a ticker's
        failure is reported in its result, never raised."""
        if interval not in INTERVALS:
            raise ValueError(f"unsupported interval {interval!r}; expected one of {INTERVALS}")
        results: dict[str, FetchResult] = {}
        files = self._files()
        now = self.clock.now() if self.clock is not None else None
        for ticker in tickers:
            symbol = ticker.upper()
            if symbol not in files.tickers:
                results[ticker] = FetchResult(ticker, interval, FetchStatus.UNKNOWN_TICKER,
                                              message=f"no bundled data for {ticker}")
                continue
            try:
                results[ticker] = self._fetch_one(ticker, symbol, interval, start, end, now, files)
            except Exception as exc:  # one unreadable file must not fail the whole batch
                results[ticker] = FetchResult(ticker, interval, FetchStatus.FAILED,
                                              message=f"{type(exc).__name__}: {exc}")
        return results

    def _fetch_one(self, ticker: str, symbol: str, interval: str, start: datetime | None,
                   end: datetime | None, now: datetime | None, files: _Files) -> FetchResult:
        series = self._series(symbol, interval, files)
        if series is None:
            return FetchResult(ticker, interval, FetchStatus.NO_NEW_DATA, meta=self._meta(symbol, ()),
                               message=f"no bundled {interval} data for {ticker}")
        ts = series.bars["ts"]
        keep = np.ones(len(ts), dtype=bool)
        if now is not None:
            keep &= series.ends <= pd.Timestamp(now).value
        if start is not None:
            lo = pd.Timestamp(as_utc(start))
            keep &= np.asarray(ts >= (lo.floor("D") if interval == DAILY else lo))
        if end is not None:
            keep &= np.asarray(ts < pd.Timestamp(as_utc(end)))
        bars = series.bars.loc[keep].reset_index(drop=True)
        meta = self._meta(symbol, series.files)
        if bars.empty:
            return FetchResult(ticker, interval, FetchStatus.NO_NEW_DATA, meta=meta,
                               message="no bars in the requested range" + (" yet" if now is not None else ""))
        return FetchResult(ticker, interval, FetchStatus.OK, bars=bars, meta=meta)


__all__ = [
    "CLOCK_FILE",
    "DEFAULT_SEED_DIR",
    "STOCKS",
    "ReplayClock",
    "ReplayProvider",
    "StockInfo",
    "currency_for_ticker",
    "replay_clock_from_settings",
    "resample_bars",
    "stock_info",
]
