"""Strategy simulations: validate a request, run the backtest on stored bars, keep the results; never commits."""

from __future__ import annotations

import logging
from datetime import date, timedelta
from typing import Any

import pandas as pd
from sqlalchemy.orm import Session

from signalhub.core.errors import ConflictError, NotFoundError, UnprocessableError
from signalhub.core.time import utcnow
from signalhub.market_data import repository as bars_repository
from signalhub.models.simulation import Simulation, SimulationStatus
from signalhub.models.user import User
from signalhub.signals import strategies
from signalhub.signals.service import require_strategy
from signalhub.signals.strategies import fusion
from signalhub.simulations import chart, engine, metrics, repository
from signalhub.simulations.schemas import SimulationRequest, SimulationResults

logger = logging.getLogger(__name__)

INTERVAL = "1d"
FINISHED = (SimulationStatus.SUCCEEDED.value, SimulationStatus.FAILED.value)


def _day_start(day: date) -> pd.Timestamp:
    # Daily bars are stamped at midnight UTC of their session date.
    return pd.Timestamp(day, tz="UTC")


def strategy_params(name: str, overrides: dict[str, Any]) -> dict[str, Any]:
    """The strategy's live parameters (strategies.yaml) overlaid with `overrides`, resolved; 422 naming them."""
    require_strategy(name)
    configured = strategies.load_params()
    given: dict[str, dict[str, Any]] = {n: p for n, p in configured.items() if n != fusion.NAME}
    own = configured[name]
    if name == fusion.NAME:
        # Fusion's component parameters are derived from the components' sections unless given explicitly.
        own = {k: v for k, v in own.items() if k != "component_params"}
    given[name] = {**own, **overrides}
    try:
        return strategies.resolve_all_params(given)[name]
    except ValueError as exc:
        raise UnprocessableError(f"params: {exc}") from None


def validate(session: Session, data: SimulationRequest) -> dict[str, Any]:
    """Check a request against the registry and the stored data; the normalised request to store, or 422."""
    params = strategy_params(data.strategy, data.params)
    if data.start >= data.end:
        raise UnprocessableError("end: must be after start")
    if data.sizing == "fixed_fraction" and data.fraction is None:
        raise UnprocessableError("fraction: required for fixed_fraction sizing")
    if data.sizing == "fixed_amount" and data.amount is None:
        raise UnprocessableError("amount: required for fixed_amount sizing")
    currencies = repository.stock_currencies(session, data.tickers)
    unknown = [t for t in data.tickers if t not in currencies]
    if unknown:
        raise UnprocessableError(f"tickers: unknown {', '.join(unknown)}")
    if len(set(currencies.values())) > 1:
        # Sleeves in KRW and USD cannot be summed into one equity curve without an exchange rate.
        mixed = ", ".join(f"{t} ({c})" for t, c in currencies.items())
        raise UnprocessableError(f"tickers: all must trade in one currency, got {mixed}")
    counts = repository.daily_bar_counts(session, data.tickers, _day_start(data.start).to_pydatetime(),
                                         _day_start(data.end).to_pydatetime())
    short = [t for t in data.tickers if counts.get(t, 0) < 2]
    if short:
        raise UnprocessableError(f"tickers: fewer than 2 daily bars between {data.start} and {data.end} for "
                                 f"{', '.join(short)}")
    return {**data.model_dump(mode="json"), "params": params, "currency": currencies[data.tickers[0]],
            "interval": INTERVAL}


def create(session: Session, user_id: int, data: SimulationRequest) -> Simulation:
    """Validate and stage a QUEUED simulation (the caller commits, then enqueues it)."""
    request = validate(session, data)
    return repository.add(session, Simulation(user_id=user_id, strategy=data.strategy, request=request,
                                              status=SimulationStatus.QUEUED.value))


def compute(session: Session, request: dict[str, Any]) -> dict[str, Any]:
    """Run the backtest a stored request describes and return its results as JSON-ready data."""
    start, end = _day_start(date.fromisoformat(request["start"])), _day_start(date.fromisoformat(request["end"]))
    tickers = list(request["tickers"])
    # Every bar up to the end: the indicators before `start` warm up exactly as they did live.
    bars = bars_repository.load_bars_frame(session, tickers, INTERVAL, end=(end + timedelta(days=1)).to_pydatetime())
    frame = engine.indicator_frame(bars)
    codes = engine.strategy_states(frame, request["strategy"], request["params"])
    costs = engine.Costs(request["commission_bps"], request["slippage_bps"], request["sell_tax_bps"])
    sizing = engine.SizingRule(request["sizing"], request["fraction"], request["amount"])
    backtest = engine.run_backtest(frame, codes, start, end, float(request["initial_capital"]), costs, sizing)
    return build_results(backtest, request, costs)


def build_results(backtest: engine.Backtest, request: dict[str, Any], costs: engine.Costs) -> dict[str, Any]:
    """Metrics, trades, open positions, equity curve and assumptions of a backtest, validated and as JSON."""
    trades = backtest.trades
    closed = trades[trades["exit_row"] >= 0]
    still_open = trades[trades["exit_row"] < 0]
    strategy_dd = metrics.drawdowns(backtest.equity)
    benchmark_dd = metrics.drawdowns(backtest.benchmark)
    days = [d.date() for d in backtest.dates]
    results = SimulationResults(
        currency=request["currency"],
        metrics={**metrics.performance(backtest.dates, backtest.equity, backtest.initial_capital),
                 **metrics.trade_stats(trades)},
        benchmark=metrics.performance(backtest.dates, backtest.benchmark, backtest.initial_capital),
        trades=[{"ticker": r.ticker, "entry_date": r.entry_ts.date(), "entry_price": r.entry_price,
                 "exit_date": r.exit_ts.date(), "exit_price": r.exit_price, "qty": r.qty, "fees": r.fees,
                 "pnl": r.pnl, "trade_return": r.trade_return} for r in closed.itertuples(index=False)],
        open_positions=[{"ticker": r.ticker, "entry_date": r.entry_ts.date(), "entry_price": r.entry_price,
                         "qty": r.qty, "fees": r.fees, "last_close": backtest.last_close[r.ticker],
                         "unrealised_pnl": r.qty * (backtest.last_close[r.ticker] - r.entry_price) - r.fees}
                        for r in still_open.itertuples(index=False)],
        equity_curve=[{"date": d, "equity": e, "drawdown": dd, "benchmark_equity": b, "benchmark_drawdown": bd}
                      for d, e, dd, b, bd in zip(days, backtest.equity.tolist(), strategy_dd.tolist(),
                                                 backtest.benchmark.tolist(), benchmark_dd.tolist(), strict=True)],
        assumptions={
            "fills": "a state on bar t's close fills at bar t+1's open; none on the last bar",
            "slippage_bps": costs.slippage_bps, "commission_bps": costs.commission_bps,
            "sell_tax_bps": {t: costs.sell_tax_for(t) for t in backtest.tickers},
            "capital_per_ticker": backtest.initial_capital / len(backtest.tickers),
            "sizing": request["sizing"], "whole_shares": True, "long_only": True,
            "annualisation": f"{metrics.TRADING_DAYS} trading days, risk-free rate 0",
            "bar_dates": len(days),
        },
    )
    return results.model_dump(mode="json")


def execute(session: Session, simulation: Simulation) -> Simulation:
    """Run a staged simulation now and record SUCCEEDED with results, or FAILED with the reason."""
    simulation.status = SimulationStatus.RUNNING.value
    simulation.started_at = simulation.started_at or utcnow()
    try:
        simulation.results = compute(session, simulation.request)
        simulation.status = SimulationStatus.SUCCEEDED.value
        simulation.error = None
    except (UnprocessableError, ValueError) as exc:
        # The data changed since validation (e.g. bars deleted) or a strategy refused its input.
        simulation.status = SimulationStatus.FAILED.value
        simulation.error = getattr(exc, "message", str(exc))
    simulation.finished_at = utcnow()
    session.flush()
    return simulation


def fail(simulation: Simulation, reason: str) -> None:
    """Record that a simulation could not run, and why."""
    simulation.status = SimulationStatus.FAILED.value
    simulation.error = reason
    simulation.finished_at = utcnow()


def run_simulation_sync(session: Session, user_id: int, data: SimulationRequest) -> Simulation:
    """Create and run a simulation in the caller's session (flushed, not committed); 422 for a bad request."""
    return execute(session, create(session, user_id, data))


def require_simulation(session: Session, user: User, simulation_id: int) -> Simulation:
    """The user's simulation, or 404."""
    simulation = repository.get_for_user(session, user.id, simulation_id)
    if simulation is None:
        raise NotFoundError(f"No simulation {simulation_id}")
    return simulation


def chart_png(session: Session, user: User, simulation_id: int) -> bytes:
    """The PNG chart of the user's finished simulation, drawn from its stored equity curve."""
    simulation = require_simulation(session, user, simulation_id)
    if simulation.status != SimulationStatus.SUCCEEDED.value or not simulation.results:
        raise ConflictError(f"Simulation {simulation_id} has no results yet (status {simulation.status})")
    request = simulation.request
    title = (f"{simulation.strategy} on {', '.join(request['tickers'][:5])}"
             f"{' …' if len(request['tickers']) > 5 else ''}, {request['start']} to {request['end']}")
    return chart.render_png(simulation.results["equity_curve"], title, simulation.results["currency"])
