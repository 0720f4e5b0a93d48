"""The pipeline from provider to stored signals: bars -> indicators -> strategies -> model -> grades."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from signalhub.market_data import service as market_service
from signalhub.market_data.providers.base import MarketDataProvider
from signalhub.signals import service
from signalhub.signals.model_client import ModelClient


@dataclass
class IngestResult:
    """Per-ticker update summaries and what the signal stage produced."""

    updates: list[market_service.UpdateSummary]
    signals: service.PipelineResult

    def as_dict(self) -> dict[str, object]:
        """JSON-ready summary (task results)."""
        return {
            "updated": [u.as_dict() for u in self.updates],
            "new_signal_ids": self.signals.signal_ids,
            "candidates": self.signals.candidates,
            "suppressed_by_gap": self.signals.suppressed_by_gap,
            "model": self.signals.model_status,
            "timings": {k: round(v, 4) for k, v in self.signals.timings.items()},
        }


def ingest(session: Session, provider: MarketDataProvider, tickers: Sequence[str], interval: str,
           model: ModelClient | None, start: datetime | None = None, end: datetime | None = None) -> IngestResult:
    """Fetch and store new bars, refresh indicators, and emit the signals the new bars trigger."""
    update = market_service.update_prices(session, provider, tickers, interval, start, end)
    signals = service.evaluate_and_store(session, update.frame, interval, update.new_bars, model)
    signals.timings = {**update.timings, **signals.timings}
    return IngestResult(update.summaries, signals)


# Seeded history produces the signals of its last year, so a first look at the API shows real ones.
SEED_SIGNAL_BARS = 250
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def seed_bundled(session: Session, provider: MarketDataProvider, intervals: Sequence[str],
                 model: ModelClient | None = None) -> list[str]:
    """Load every bundled ticker's whole history per interval through the normal update path, and emit the
    signals of its most recent bars."""
    lines = []
    tickers = provider.list_tickers()  # type: ignore[attr-defined] - the replay provider knows its files
    for interval in intervals:
        update = market_service.update_prices(session, provider, tickers, interval, start=_EPOCH, end=None)
        loaded = [s for s in update.summaries if s.status == "ok"]
        signals = service.evaluate_and_store(session, update.frame, interval, SEED_SIGNAL_BARS, model)
        lines.append(f"{interval}: {sum(s.bars_stored for s in loaded)} bars for {len(loaded)} tickers, "
                     f"{len(signals.signal_ids)} signals from the last {SEED_SIGNAL_BARS} bars")
    return lines
