"""Recommendations (seed 003) from the latest graded signals, and patterns across tickers; read-only."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session

from signalhub.recommendations import repository
from signalhub.recommendations.schemas import Pattern, Recommendation

# Targets and stops in units of ATR(14): reward twice the risk, a common swing-trading convention.
TARGET_ATR, STOP_ATR = 2.0, 1.0
SQUEEZE_HISTORY, SQUEEZE_PERCENTILE = 120, 0.10
CORR_SHORT, CORR_LONG, CORR_SHIFT = 20, 120, 0.5


def recommendations(session: Session, interval: str, action: str | None, min_confidence: float,
                    ticker: str | None, sort: str, descending: bool, limit: int) -> list[Recommendation]:
    """One recommendation per ticker from its newest non-HOLD signals (the most confident one leads)."""
    grouped: dict[str, list] = {}
    for row in repository.latest_signals(session, interval):
        grouped.setdefault(row[0].ticker, []).append(row)
    items = []
    for rows in grouped.values():
        lead, name, atr = rows[0]
        # Signals on the same bar can disagree; the most confident direction wins, agreeing ones support it.
        agreeing = [r[0] for r in rows if r[0].action == lead.action]
        sign = 1.0 if lead.action == "BUY" else -1.0
        target = lead.price + sign * TARGET_ATR * atr if atr else None
        stop = lead.price - sign * STOP_ATR * atr if atr else None
        reason = "; ".join(itertools.chain.from_iterable(s.reasons for s in agreeing))
        if lead.model_direction:
            reason += (f"; model {lead.model_version} says {lead.model_direction} "
                       f"({lead.model_confidence:.0%}, expected {lead.model_predicted_return:+.2%})")
        items.append(Recommendation(
            ticker=lead.ticker, name=name, action=lead.action, grade=lead.grade,
            confidence=round(lead.combined_confidence * 100, 1), price=lead.price, target_price=target,
            stop_price=stop, as_of=lead.bar_ts, strategies=[s.strategy for s in agreeing],
            technical_only=lead.technical_only, model_direction=lead.model_direction, reason=reason,
            signal_id=lead.id))
    items = [r for r in items if r.confidence >= min_confidence and (action is None or r.action == action)
             and (ticker is None or r.ticker == ticker)]
    items.sort(key=lambda r: getattr(r, sort), reverse=descending)
    return items[:limit]


def _cluster_patterns(latest: pd.DataFrame) -> list[Pattern]:
    patterns = []
    for kind, mask, word in (("oversold_cluster", latest["rsi_14"] < 30, "oversold"),
                             ("overbought_cluster", latest["rsi_14"] > 70, "overbought")):
        for exchange, group in latest.groupby("exchange"):
            hits = group[mask.loc[group.index]]
            share = len(hits) / len(group)
            # One ticker alone is not a cluster; a third of a market moving together is.
            if len(hits) >= 2 and share >= 1 / 3:
                patterns.append(Pattern(
                    kind=kind, title=f"{len(hits)} of {len(group)} {exchange} tickers are {word} (RSI)",
                    tickers=sorted(hits["ticker"]), confidence=round(100 * share, 1), as_of=hits["ts"].max(),
                    details={"exchange": str(exchange), "mean_rsi": round(float(hits["rsi_14"].mean()), 2)}))
    return patterns


def _squeeze_patterns(history: pd.DataFrame) -> list[Pattern]:
    frame = history.assign(bandwidth=(history["bb_upper"] - history["bb_lower"]) / history["bb_middle"])
    squeezed, ranks = [], {}
    for ticker, group in frame.groupby("ticker"):
        widths = group["bandwidth"].dropna()
        if len(widths) < 40:
            continue
        rank = float((widths < widths.iloc[-1]).mean())  # share of recent bars with a narrower band
        if rank <= SQUEEZE_PERCENTILE:
            squeezed.append(ticker)
            ranks[ticker] = rank
    if not squeezed:
        return []
    return [Pattern(kind="band_squeeze", title=f"Bollinger band squeeze in {len(squeezed)} ticker(s)",
                    tickers=sorted(squeezed),
                    confidence=round(100 * (1 - float(np.mean(list(ranks.values())))), 1),
                    as_of=frame["ts"].max(),
                    details={"percentile_threshold": SQUEEZE_PERCENTILE, "history_bars": SQUEEZE_HISTORY,
                             "note": "bandwidth (upper-lower)/middle at its narrowest 10% of the last 120 bars; "
                                     "squeezes often precede breakouts, direction unknown"})]


def _correlation_patterns(history: pd.DataFrame) -> list[Pattern]:
    closes = history.pivot(index="ts", columns="ticker", values="close").sort_index()
    returns = closes.pct_change(fill_method=None).iloc[1:]
    if len(returns) < CORR_SHORT + 5 or returns.shape[1] < 2:
        return []
    long_corr = returns.tail(CORR_LONG).corr(min_periods=CORR_SHORT)
    short_corr = returns.tail(CORR_SHORT).corr(min_periods=CORR_SHORT // 2)
    patterns = []
    for a, b in itertools.combinations(returns.columns, 2):
        before, now = long_corr.loc[a, b], short_corr.loc[a, b]
        if math.isnan(before) or math.isnan(now) or abs(now - before) < CORR_SHIFT:
            continue
        patterns.append(Pattern(
            kind="correlation_shift", title=f"{a} and {b} {'decoupled' if now < before else 'moved together'}",
            tickers=[a, b], confidence=round(min(100.0, 100 * abs(now - before)), 1), as_of=returns.index.max(),
            details={"correlation_120": round(float(before), 3), "correlation_20": round(float(now), 3)}))
    patterns.sort(key=lambda p: p.confidence, reverse=True)
    return patterns[:10]


def patterns(session: Session, interval: str, kinds: set[str] | None) -> list[Pattern]:
    """Oversold/overbought clusters, band squeezes and correlation shifts on the newest stored data."""
    history = repository.recent_indicators(session, interval, SQUEEZE_HISTORY + 1,
                                           ["rsi_14", "bb_upper", "bb_middle", "bb_lower"])
    if history.empty:
        return []
    latest = history.groupby("ticker").tail(1).dropna(subset=["rsi_14"]).reset_index(drop=True)
    found = _cluster_patterns(latest) + _squeeze_patterns(history) + _correlation_patterns(history)
    return [p for p in found if kinds is None or p.kind in kinds]
