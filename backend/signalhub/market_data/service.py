"""Fetching bars from a provider into storage, and reading them back; flushes, never commits."""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy.orm import Session

from signalhub.core import metrics
from signalhub.core.calendars import exchange_for_ticker
from signalhub.core.config import get_settings
from signalhub.core.errors import NotFoundError, UnprocessableError
from signalhub.core.time import utcnow
from signalhub.indicators.service import refresh_indicators
from signalhub.market_data import quality, repository
from signalhub.market_data.providers.base import FetchResult, FetchStatus, MarketDataProvider
from signalhub.models.stock import Stock

TICKER_PATTERN = re.compile(r"^[A-Z0-9][A-Z0-9.\-=^]{0,31}$")
# How far back a first fetch of a ticker reaches (enough history for SMA200 and warm-up).
_FIRST_FETCH_LOOKBACK = {"1d": timedelta(days=800)}
_FIRST_FETCH_LOOKBACK_INTRADAY = timedelta(days=5)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class UpdateSummary:
    """What one ticker's update did."""

    ticker: str
    status: str
    bars_stored: int
    last_bar: str | None
    message: str

    def as_dict(self) -> dict[str, object]:
        """Return the summary as JSON-ready data."""
        return asdict(self)


def normalise_ticker(raw: str) -> str:
    """Upper-case a ticker and check its shape; 422 naming it when it cannot be a symbol."""
    ticker = raw.strip().upper()
    if not TICKER_PATTERN.match(ticker):
        raise UnprocessableError(f"'{raw}' is not a valid ticker symbol")
    return ticker


def require_stock(session: Session, ticker: str) -> Stock:
    """Return the stock, or 404 naming the ticker."""
    stock = repository.get_stock(session, normalise_ticker(ticker))
    if stock is None:
        raise NotFoundError(f"Unknown ticker '{ticker.strip().upper()}'")
    return stock


def check_range(start: datetime | None, end: datetime | None) -> None:
    """422 when a range is reversed."""
    if start is not None and end is not None and start >= end:
        raise UnprocessableError(f"start ({start.isoformat()}) must be before end ({end.isoformat()})")


def _stock_row(ticker: str, result: FetchResult) -> dict[str, object]:
    meta = result.meta
    exchange = exchange_for_ticker(ticker)
    return {
        "ticker": ticker,
        "name": str(meta.get("name") or meta.get("longName") or meta.get("shortName") or ticker)[:200],
        "exchange": exchange,
        "currency": str(meta.get("currency") or ("KRW" if exchange == "XKRX" else "USD"))[:3].upper(),
        "sector": meta.get("sector"),
        "industry": meta.get("industry"),
    }


@dataclass
class UpdateResult:
    """Per-ticker summaries, and the bars + indicators loaded for the tickers that got new bars."""

    summaries: list[UpdateSummary]
    frame: pd.DataFrame
    new_bars: int
    timings: dict[str, float] = field(default_factory=dict)


def update_prices(session: Session, provider: MarketDataProvider, tickers: Sequence[str], interval: str,
                  start: datetime | None = None, end: datetime | None = None) -> UpdateResult:
    """Fetch bars for `tickers` (incrementally from the newest stored bar unless `start` is given),
    store them idempotently and refresh their indicators."""
    tickers = list(dict.fromkeys(normalise_ticker(t) for t in tickers))
    latest: dict[str, datetime] | None = None
    if start is None:
        latest = repository.latest_bar_times(session, tickers, interval)
        lookback = _FIRST_FETCH_LOOKBACK.get(interval, _FIRST_FETCH_LOOKBACK_INTRADAY)
        # Re-fetch the newest stored bar too: a bar fetched while its session was open may have changed.
        start = min((latest.get(t, utcnow() - lookback) for t in tickers), default=None)
    clock = time.perf_counter()
    results = provider.fetch_bars(tickers, interval, start, end)
    timings = {"fetch": time.perf_counter() - clock}

    clock = time.perf_counter()
    fetched = {t: r for t, r in results.items() if r.status == FetchStatus.OK and not r.bars.empty}
    known = repository.existing_tickers(session, fetched)
    new_stocks = [_stock_row(t, r) for t, r in fetched.items() if t not in known]
    if new_stocks:
        repository.upsert_stocks(session, new_stocks)
    new_bars = max((len(r.bars) for r in fetched.values()), default=0)
    frame = repository.load_bars_frame(session, [], interval)
    if fetched:
        repository.upsert_bars(session, pd.concat([r.bars.assign(ticker=t) for t, r in fetched.items()],
                                                  ignore_index=True), interval, provider.name)
        for ticker, fetch in fetched.items():
            metrics.BARS_INGESTED.labels(exchange=exchange_for_ticker(ticker), interval=interval).inc(len(fetch.bars))
        timings["store_bars"] = time.perf_counter() - clock
        clock = time.perf_counter()
        # Fetching from the newest stored bar onwards, the fetched bars are now the newest ones.
        newest = ({t: max([r.bars["ts"].max().to_pydatetime(), *([latest[t]] if t in latest else [])])
                   for t, r in fetched.items()} if latest is not None else None)
        frame = refresh_indicators(session, list(fetched), interval, new_bars=new_bars, latest=newest)
        timings["indicators"] = time.perf_counter() - clock
    summaries = []
    for ticker in tickers:
        result = results.get(ticker)
        if result is None:
            summaries.append(UpdateSummary(ticker, FetchStatus.FAILED, 0, None, "provider returned nothing"))
            continue
        last = result.bars["ts"].max().isoformat() if not result.bars.empty else None
        summaries.append(UpdateSummary(ticker, str(result.status), len(result.bars) if ticker in fetched else 0,
                                       last, result.message))
    return UpdateResult(summaries, frame, new_bars, timings)


# Daily bars are fetched by the after-close task (30-90 minutes after the close), so a day's bar
# counts as late only well after that; intraday bars use STALE_AFTER_MINUTES.
_DAILY_TOLERANCE = timedelta(hours=6)


def freshness_tolerance(interval: str) -> timedelta:
    """How late the newest bar of `interval` may be before the series counts as stale."""
    if interval == "1d":
        return _DAILY_TOLERANCE
    return timedelta(minutes=get_settings().stale_after_minutes)


def data_quality(session: Session, ticker: str, interval: str, start: datetime | None,
                 end: datetime | None) -> dict[str, Any]:
    """Gaps against the exchange calendar and freshness of a ticker's stored bars."""
    stock = require_stock(session, ticker)
    bars = repository.load_bars_frame(session, [stock.ticker], interval, start, end)
    report = quality.quality_report(bars["ts"], stock.exchange, interval, ticker=stock.ticker)
    latest = repository.latest_bar_times(session, [stock.ticker], interval).get(stock.ticker)
    report["freshness"] = quality.check_freshness(latest, stock.exchange, interval, utcnow(),
                                                  freshness_tolerance(interval)).to_dict()
    report["exchange"] = stock.exchange
    report["interval"] = interval
    return report


def stale_tickers(session: Session, exchange: str, interval: str, tickers: Sequence[str],
                  now: datetime) -> list[dict[str, Any]]:
    """The tickers among `tickers` whose newest `interval` bar is later than the calendar allows."""
    latest = repository.latest_bar_times(session, tickers, interval)
    tolerance = freshness_tolerance(interval)
    report = []
    for ticker in tickers:
        fresh = quality.check_freshness(latest.get(ticker), exchange, interval, now, tolerance)
        if fresh.stale:
            report.append({"ticker": ticker, **fresh.to_dict()})
    return report
