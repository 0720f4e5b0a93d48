"""Request and response bodies of the portfolio and dashboard endpoints."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from signalhub.models.portfolio_transaction import TradeSide, TradeSource
from signalhub.users.schemas import Money

AVERAGE_COST = (
    "Positions are kept per (ticker, source) by AVERAGE COST: a buy adds quantity × price + fees to the cost "
    "basis (buy fees are part of the cost); a sell realises (sell price − average cost) × quantity − sell fees "
    "and removes average cost × quantity from the basis. Amounts are exact decimals (8 decimal places)."
)

Quantity = Annotated[Decimal, Field(gt=0, le=Decimal("1e15"), max_digits=24, decimal_places=8,
                                    description="Shares, greater than 0 (fractions allowed, up to 8 decimals)")]
Price = Annotated[Decimal, Field(gt=0, le=Decimal("1e13"), max_digits=20, decimal_places=6,
                                 description="Price per share in the stock's currency, greater than 0")]
Fees = Annotated[Decimal, Field(ge=0, le=Decimal("1e13"), max_digits=20, decimal_places=6,
                                description="Commission and taxes of this trade in the stock's currency, 0 or more")]
DATE_ONLY = re.compile(r"\s*\d{4}-\d{2}-\d{2}\s*")


def _plain_date(value: object) -> object:
    # A JSON string could parse as either type; a bare YYYY-MM-DD is a trading day, anything longer a time.
    if isinstance(value, str) and DATE_ONLY.fullmatch(value):
        return dt.date.fromisoformat(value.strip())
    return value


TradeDate = Annotated[
    dt.datetime | dt.date | None,
    BeforeValidator(_plain_date),
    Field(default=None, alias="date",
          description="When the trade was executed: a date (stored as midnight UTC of that day) or an ISO 8601 "
                      "time (UTC if no offset). Not in the future, not before 1990-01-01. A day on which the "
                      "exchange was closed is accepted as given and reported in `notes`. Default: now."),
]


class BuyCreate(BaseModel):
    """A buy to record in your manual portfolio."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, json_schema_extra={"examples": [
        {"ticker": "005930.KS", "quantity": "10", "price": "57000", "fees": "85", "date": "2025-06-16"}]})

    ticker: str = Field(min_length=1, max_length=32, description="A ticker the platform knows, e.g. AAPL, 005930.KS")
    quantity: Quantity
    price: Price
    fees: Fees = Decimal(0)
    traded_at: TradeDate = None


class SellCreate(BaseModel):
    """A sell of part or all of a manual holding."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, json_schema_extra={"examples": [
        {"ticker": "005930.KS", "quantity": "4", "price": "58450", "fees": "140", "date": "2025-06-17"}]})

    ticker: str = Field(min_length=1, max_length=32)
    quantity: Quantity | None = Field(default=None, description="Shares to sell; omit to sell everything held")
    price: Price
    fees: Fees = Decimal(0)
    traded_at: TradeDate = None


class TransactionRead(BaseModel):
    """One recorded trade."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    ticker: str
    side: TradeSide
    quantity: Money
    price: Money
    fees: Money
    currency: str
    executed_at: dt.datetime
    source: TradeSource
    external_ref: str | None
    realised_pnl: Money | None = Field(description="Sells only: realised P&L by average cost, fees deducted")
    created_at: dt.datetime
    notes: list[str] = Field(default_factory=list, description="Remarks on the input, e.g. a non-trading day")


class TransactionPage(BaseModel):
    """One page of your transactions, oldest first."""

    total: int
    limit: int
    offset: int
    items: list[TransactionRead]


class PositionRead(BaseModel):
    """One position in one (ticker, source), from its first buy until it is sold out."""

    model_config = ConfigDict(from_attributes=True)

    ticker: str
    source: TradeSource
    status: Literal["open", "closed"]
    currency: str
    quantity: Money
    average_cost: Money = Field(description="Cost per share held, buy fees included (closed: the last one)")
    cost_basis: Money = Field(description="Cost of the shares still held")
    realised_pnl: Money
    invested: Money = Field(description="Everything paid for this position's buys, fees included")
    fees: Money = Field(description="Buy and sell fees together")
    trades: int
    opened_at: dt.datetime
    closed_at: dt.datetime | None


class PortfolioRead(BaseModel):
    """Your positions, open and closed, each marked by its source."""

    method: str = AVERAGE_COST
    open: list[PositionRead]
    closed: list[PositionRead]


class HoldingValue(BaseModel):
    """An open position valued at the latest stored daily close."""

    ticker: str
    name: str
    sector: str
    source: TradeSource
    quantity: Money
    average_cost: Money
    cost_basis: Money
    price: Money | None = Field(description="Close of the latest stored daily bar; null when none is stored")
    price_date: dt.date | None = Field(description="Session date of the bar whose close is used")
    market_value: Money | None
    unrealised_pnl: Money | None
    return_pct: Money | None = Field(description="unrealised P&L / cost basis × 100")


class Allocation(BaseModel):
    """Share of the currency's market value of holdings (cash excluded)."""

    name: str
    market_value: Money
    weight_pct: Money


class CurrencyBlock(BaseModel):
    """Everything in one currency; amounts in different currencies are never added together."""

    currency: str
    is_capital_currency: bool
    initial_capital: Money = Field(description="Your initial capital if this is its currency, else 0")
    cash: Money = Field(description="initial capital − buys + sells − fees (buy and sell), over the sources shown")
    market_value: Money = Field(description="Sum over priced holdings")
    cost_basis: Money = Field(description="Cost of the priced holdings")
    unrealised_pnl: Money
    realised_pnl: Money = Field(description="All sells in this currency, open and closed positions")
    total_pnl: Money
    invested: Money = Field(description="Everything paid for buys, fees included")
    return_pct: Money | None = Field(description="(realised + unrealised P&L) / invested × 100")
    equity: Money = Field(description="cash + market value")
    equity_return_pct: Money | None = Field(
        description="(equity − initial capital) / initial capital × 100; capital currency only")
    holdings: list[HoldingValue]
    allocation_by_holding: list[Allocation] = Field(description="Per ticker, all sources together")
    allocation_by_sector: list[Allocation] = Field(description="Per stocks.sector; 'Unknown' when not known")
    unpriced: list[str] = Field(description="Held tickers without a stored daily bar, left out of the totals")


class DashboardRead(BaseModel):
    """Holdings at the latest stored close, P&L, allocation and cash, one block per currency."""

    as_of: dt.datetime
    price_basis: str = Field(description="Which prices value the holdings")
    method: str = AVERAGE_COST
    source: TradeSource | None = Field(description="The source the figures are limited to, or null for all")
    currencies: list[CurrencyBlock]
