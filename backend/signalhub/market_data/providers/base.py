"""The one interface every market data provider implements, and its result types."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol, get_args

import pandas as pd

Interval = Literal["1m", "5m", "15m", "30m", "60m", "1d"]
INTERVALS: tuple[str, ...] = get_args(Interval)

# Normalised bar frame: one row per bar, `ts` = bar START as aware UTC, ascending and unique.
BAR_COLUMNS = ["ts", "open", "high", "low", "close", "volume"]


class FetchStatus(enum.StrEnum):
    """Outcome of fetching one ticker, so callers can tell the cases apart."""

    OK = "ok"  # bars returned
    NO_NEW_DATA = "no_new_data"  # ticker exists, nothing in the range (market closed, weekend, no new bar)
    UNKNOWN_TICKER = "unknown_ticker"  # the provider does not know this symbol
    FAILED = "failed"  # the provider failed (network, rate limit after retries, bad response)


@dataclass
class FetchResult:
    """Bars (or the reason there are none) for one ticker and interval."""

    ticker: str
    interval: str
    status: FetchStatus
    bars: pd.DataFrame = field(default_factory=lambda: empty_bars())
    message: str = ""
    # Optional facts the provider knows about the instrument: currency, exchange, name, timezone...
    meta: dict[str, Any] = field(default_factory=dict)


class MarketDataProvider(Protocol):
    """Fetches bars for several tickers at once, normalised to UTC OHLCV."""

    name: str

    def fetch_bars(
        self, tickers: Sequence[str], interval: Interval, start: datetime | None, end: datetime | None
    ) -> dict[str, FetchResult]:
        """Return one result per requested ticker; never raises for a single ticker's failure."""


def empty_bars() -> pd.DataFrame:
    """An empty frame with the normalised bar columns and dtypes."""
    return pd.DataFrame({
        "ts": pd.Series([], dtype="datetime64[ns, UTC]"),
        **{col: pd.Series([], dtype="float64") for col in BAR_COLUMNS[1:]},
    })


def normalise_bars(frame: pd.DataFrame) -> pd.DataFrame:
    """Coerce a provider frame to BAR_COLUMNS: UTC `ts`, float prices, ascending, unique, no all-NaN rows."""
    if frame.empty:
        return empty_bars()
    out = frame.loc[:, BAR_COLUMNS].copy()
    out["ts"] = pd.to_datetime(out["ts"], utc=True)
    for col in BAR_COLUMNS[1:]:
        out[col] = pd.to_numeric(out[col], errors="coerce").astype("float64")
    out = out.dropna(subset=["open", "high", "low", "close"], how="all")
    out = out.sort_values("ts").drop_duplicates("ts", keep="last").reset_index(drop=True)
    return out
