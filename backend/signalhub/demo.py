"""A demo account on the bundled history, so a first look at the API shows real numbers (development only)."""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime, time
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from signalhub.alerts import service as alerts
from signalhub.alerts.schemas import AlertRuleCreate
from signalhub.models.price_bar import PriceBar
from signalhub.portfolios import service as portfolios
from signalhub.simulations import service as simulations
from signalhub.simulations.schemas import SimulationRequest
from signalhub.users import repository as users_repository
from signalhub.users import service as users
from signalhub.users.schemas import UserCreate
from signalhub.watchlists import service as watchlists

DEMO_EMAIL = "demo@signalhub.dev"
DEMO_USERNAME = "demo"

# (ticker, side, quantity, session date): filled at that session's real close from the bundled history.
_TRADES = [
    ("AAPL", "BUY", 40, date(2024, 1, 8)),
    ("MSFT", "BUY", 20, date(2024, 2, 1)),
    ("NVDA", "BUY", 60, date(2024, 6, 12)),
    ("AAPL", "SELL", 15, date(2025, 1, 6)),
    ("GOOGL", "BUY", 30, date(2025, 3, 3)),
]
_FEE_RATE = Decimal("0.00015")  # 0.015% per fill, as the paper broker charges


def _close_on(session: Session, ticker: str, day: date) -> tuple[datetime, Decimal]:
    """The last daily close on or before `day` (the bundled history has gaps for holidays)."""
    stmt = (select(PriceBar.ts, PriceBar.close)
            .where(PriceBar.ticker == ticker, PriceBar.interval == "1d",
                   PriceBar.ts <= datetime.combine(day, time.max, UTC))
            .order_by(PriceBar.ts.desc()).limit(1))
    row = session.execute(stmt).first()
    if row is None:
        raise LookupError(f"no bundled daily bar for {ticker} on or before {day}")
    return row[0], Decimal(str(row[1])).quantize(Decimal("0.01"))


def seed_demo(session: Session, password: str | None = None) -> list[str]:
    """Create the demo user with a portfolio, a watchlist, alert rules and a finished simulation (once)."""
    if users_repository.get_by_email(session, DEMO_EMAIL) is not None:
        return [f"demo user {DEMO_EMAIL} exists already"]
    password = password or secrets.token_urlsafe(12)
    user = users.register(session, UserCreate(email=DEMO_EMAIL, username=DEMO_USERNAME, password=password,
                                              timezone="America/New_York", initial_capital=Decimal("100000"),
                                              capital_currency="USD"))
    for ticker, side, quantity, day in _TRADES:
        executed_at, price = _close_on(session, ticker, day)
        portfolios.record_trade(session, user.id, ticker=ticker, side=side, quantity=Decimal(quantity),
                                price=price, fees=(price * quantity * _FEE_RATE).quantize(Decimal("0.01")),
                                executed_at=executed_at, source="manual", external_ref=f"demo-{ticker}-{day}")
    for ticker in ("AAPL", "MSFT", "NVDA", "TSLA", "005930.KS"):
        watchlists.add(session, user, ticker)
    alerts.create(session, user, AlertRuleCreate(name="My watchlist, buy or stronger", use_watchlist=True,
                                                 min_grade="BUY"))
    alerts.create(session, user, AlertRuleCreate(name="Strong RSI and MACD on big tech",
                                                 tickers=["AAPL", "MSFT", "GOOGL", "AMZN", "NVDA"],
                                                 strategies=["rsi_reversal", "macd_cross"], min_grade="STRONG",
                                                 cooldown_minutes=60))
    simulation = simulations.run_simulation_sync(session, user.id, SimulationRequest(
        strategy="ma_cross", tickers=["AAPL", "MSFT", "NVDA"], start=date(2022, 1, 3), end=date(2025, 6, 30),
        initial_capital=100_000))
    return [f"demo user {DEMO_EMAIL} / {password} (log in at /docs → Authorize)",
            f"demo portfolio: {len(_TRADES)} trades; watchlist and 2 alert rules; "
            f"simulation {simulation.id} ({simulation.status}) of ma_cross on AAPL, MSFT, NVDA"]
