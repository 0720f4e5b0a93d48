"""The simulation chart: equity against buy-and-hold on top, drawdowns underneath, as a PNG."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter


def render_png(equity_curve: Sequence[Mapping[str, Any]], title: str, currency: str) -> bytes:
    """Draw a stored equity curve (date, equity, drawdown, benchmark_equity, benchmark_drawdown) as PNG bytes."""
    curve = pd.DataFrame(list(equity_curve))
    dates = pd.to_datetime(curve["date"])
    # A Figure with its own Agg canvas: no pyplot global state, safe in server threads.
    figure = Figure(figsize=(10, 6.5), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    top, bottom = figure.subplots(2, 1, sharex=True, height_ratios=[3, 1])
    top.plot(dates, curve["equity"], color="tab:blue", linewidth=1.4, label="Strategy")
    top.plot(dates, curve["benchmark_equity"], color="tab:gray", linewidth=1.1, label="Buy and hold")
    top.set_title(title)
    top.set_ylabel(f"Equity ({currency})")
    top.grid(alpha=0.3)
    top.legend(loc="upper left")
    bottom.fill_between(dates, curve["drawdown"], 0.0, color="tab:red", alpha=0.35, label="Strategy")
    bottom.plot(dates, curve["benchmark_drawdown"], color="tab:gray", linewidth=0.9, label="Buy and hold")
    bottom.yaxis.set_major_formatter(PercentFormatter(1.0))
    bottom.set_ylabel("Drawdown")
    bottom.grid(alpha=0.3)
    bottom.legend(loc="lower left")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
