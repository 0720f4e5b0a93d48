"""Request and response bodies for strategy simulations."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from signalhub.market_data.service import TICKER_PATTERN
from signalhub.simulations.engine import DEFAULT_COMMISSION_BPS, DEFAULT_SLIPPAGE_BPS

MAX_TICKERS = 50
BPS_LIMIT = 1000.0  # 10% per fill: anything above is a typo, not a cost

Sizing = Literal["all_in", "fixed_fraction", "fixed_amount"]
Status = Literal["QUEUED", "RUNNING", "SUCCEEDED", "FAILED"]


class SimulationRequest(BaseModel):
    """A backtest of one strategy on daily bars: tickers, date range (both ends included), capital, costs, sizing."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    strategy: str = Field(min_length=1, max_length=64, examples=["ma_cross"])
    params: dict[str, Any] = Field(default_factory=dict, description="Overrides of the strategy's configured "
                                   "parameters (signals/strategies.yaml), e.g. {\"oversold\": 25}")
    tickers: list[str] = Field(min_length=1, max_length=MAX_TICKERS, description="One currency per simulation; "
                               "the capital is split equally across them")
    start: date
    end: date
    initial_capital: float = Field(gt=0, le=1e13)
    commission_bps: float = Field(default=DEFAULT_COMMISSION_BPS, ge=0, le=BPS_LIMIT,
                                  description="On the value of every fill (1.5 bps = 0.015%)")
    slippage_bps: float = Field(default=DEFAULT_SLIPPAGE_BPS, ge=0, le=BPS_LIMIT,
                                description="Against you on every fill: buys above, sells below the open")
    sell_tax_bps: float | None = Field(default=None, ge=0, le=BPS_LIMIT,
                                       description="On the value of every sell; null: the exchange's default "
                                       "(KRX 15 bps, US 0)")
    sizing: Sizing = Field(default="all_in", description="all_in: the ticker's whole cash on each buy; "
                           "fixed_fraction: `fraction` of it; fixed_amount: `amount` (at most the cash)")
    fraction: float | None = Field(default=None, gt=0, le=1)
    amount: float | None = Field(default=None, gt=0, le=1e13)

    @field_validator("tickers")
    @classmethod
    def _tickers(cls, value: list[str]) -> list[str]:
        out: list[str] = []
        for raw in value:
            ticker = raw.strip().upper()
            if not TICKER_PATTERN.match(ticker):
                raise ValueError(f"'{raw}' is not a valid ticker symbol")
            if ticker not in out:
                out.append(ticker)
        return out


class SimulationAccepted(BaseModel):
    """A queued simulation: poll `url` for its status and results."""

    id: int
    status: Status
    url: str


class PerformanceMetrics(BaseModel):
    """Return and risk of one equity curve (fractions: 0.12 is 12%).

    Sharpe and Sortino use the daily close-to-close returns of the equity, annualised with sqrt(252), risk-free
    rate 0 (Sortino's downside deviation is over all days, target 0); CAGR compounds over calendar days
    (365.25 a year); the maximum drawdown is the deepest fall below the running peak, with the peak, trough
    and recovery (back to the peak; null if never) dates.
    """

    final_equity: float
    total_return: float
    cagr: float | None
    sharpe: float | None
    sortino: float | None
    max_drawdown: float
    max_drawdown_peak: date | None
    max_drawdown_trough: date | None
    max_drawdown_recovery: date | None


class StrategyMetrics(PerformanceMetrics):
    """The strategy's return and risk plus its closed-trade statistics."""

    trades: int
    win_rate: float | None
    profit_factor: float | None = Field(description="Gross profit / gross loss; null without a losing trade")
    gross_profit: float
    gross_loss: float


class TradeRead(BaseModel):
    """A closed round trip: fill prices include slippage, fees are commission plus sell tax."""

    ticker: str
    entry_date: date
    entry_price: float
    exit_date: date
    exit_price: float
    qty: float
    fees: float
    pnl: float
    trade_return: float = Field(description="pnl / (entry value + entry commission)")


class OpenPosition(BaseModel):
    """A position still held on the last day, marked at that day's close (no exit fees deducted)."""

    ticker: str
    entry_date: date
    entry_price: float
    qty: float
    fees: float
    last_close: float
    unrealised_pnl: float


class EquityPoint(BaseModel):
    """Equity at one bar date's close, for the strategy and the buy-and-hold benchmark."""

    date: date
    equity: float
    drawdown: float
    benchmark_equity: float
    benchmark_drawdown: float


class SimulationResults(BaseModel):
    """Everything a finished simulation computed."""

    currency: str
    metrics: StrategyMetrics
    benchmark: PerformanceMetrics = Field(description="Buy-and-hold of the same tickers and capital")
    trades: list[TradeRead]
    open_positions: list[OpenPosition]
    equity_curve: list[EquityPoint]
    assumptions: dict[str, Any]


class SimulationSummary(BaseModel):
    """A simulation in a list: what was asked and how it went."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    status: Status
    strategy: str
    request: dict[str, Any]
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class SimulationRead(SimulationSummary):
    """A simulation with its results (once SUCCEEDED) and the address of its chart."""

    results: SimulationResults | None
    chart_url: str | None
