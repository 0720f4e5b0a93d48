"""Average-cost replay of a transaction ledger: pure arithmetic on Decimals, no database.

Method (the one the API documents): per (ticker, source) the position carries a cost basis. A buy adds
`quantity × price + fees` to it (buy fees are part of what the shares cost). A sell removes the average
cost of the shares sold, `cost basis × sold / held` (all of it when the position is closed), and realises
`quantity × price − fees − removed cost`, i.e. `(sell price − average cost) × quantity − sell fees`.
A position runs from the first buy while flat until the quantity is back at zero; buying again after
that opens a new position.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Protocol

from signalhub.models.portfolio_transaction import TradeSide

# Amounts are kept to 8 decimal places (the scale of the stored realised P&L), so a replay gives
# exactly what was stored and the SQLite and PostgreSQL backends agree.
AMOUNT_STEP = Decimal("0.00000001")
ZERO = Decimal(0)


def amount(value: Decimal) -> Decimal:
    """Round an amount to the ledger's 8 decimal places (banker's rounding)."""
    return value.quantize(AMOUNT_STEP, rounding=ROUND_HALF_EVEN)


class Trade(Protocol):
    """What the replay needs of a transaction (a `PortfolioTransaction` satisfies it)."""

    id: int | None
    side: TradeSide
    quantity: Decimal
    price: Decimal
    fees: Decimal
    executed_at: datetime


class OversoldError(ValueError):
    """A sell in the chain sells more than was held at that point."""

    def __init__(self, trade: Trade, held: Decimal) -> None:
        super().__init__(f"sell of {trade.quantity} at {trade.executed_at.isoformat()} exceeds the {held} held")
        self.trade = trade
        self.held = held


@dataclass
class Position:
    """One position's life in one (ticker, source): open while `closed_at` is None."""

    ticker: str
    source: str
    currency: str
    quantity: Decimal
    average_cost: Decimal  # cost per share held; for a closed position, the average its last shares sold against
    cost_basis: Decimal  # cost of the shares still held (buy fees included)
    realised_pnl: Decimal  # sum over this position's sells
    opened_at: datetime
    closed_at: datetime | None
    invested: Decimal  # everything paid for this position's buys, fees included
    fees: Decimal  # buy and sell fees together
    trades: int

    @property
    def is_open(self) -> bool:
        """Whether shares are still held."""
        return self.closed_at is None


def chain_order(trade: Trade) -> tuple[datetime, int]:
    """Sort key of a chain: execution time, then insertion order (a trade not yet stored sorts last)."""
    return trade.executed_at, trade.id if trade.id is not None else 2**63


@dataclass
class Replay:
    """Result of replaying one chain: its positions, and the realised P&L each sell should store."""

    positions: list[Position]
    realised: list[tuple[Trade, Decimal]]


def replay(ticker: str, source: str, currency: str, trades: Sequence[Trade]) -> Replay:
    """Replay one (ticker, source) chain in order, without touching the trades.

    Raises `OversoldError` at the first sell of more than is held at that point.
    """
    positions: list[Position] = []
    realised_by_sell: list[tuple[Trade, Decimal]] = []
    current: Position | None = None
    for trade in sorted(trades, key=chain_order):
        if trade.side == TradeSide.BUY:
            if current is None:
                current = Position(ticker=ticker, source=source, currency=currency, quantity=ZERO,
                                   average_cost=ZERO, cost_basis=ZERO, realised_pnl=ZERO,
                                   opened_at=trade.executed_at, closed_at=None, invested=ZERO, fees=ZERO, trades=0)
                positions.append(current)
            cost = amount(trade.quantity * trade.price + trade.fees)
            current.quantity += trade.quantity
            current.cost_basis += cost
            current.invested += cost
            current.fees += trade.fees
            current.trades += 1
            current.average_cost = amount(current.cost_basis / current.quantity)
            continue
        held = current.quantity if current is not None else ZERO
        if current is None or trade.quantity > held:
            raise OversoldError(trade, held)
        closing = trade.quantity == held
        # Closing sells take the whole remaining basis so no rounding residue outlives the position.
        removed = current.cost_basis if closing else amount(current.cost_basis * trade.quantity / held)
        realised = amount(trade.quantity * trade.price - trade.fees - removed)
        realised_by_sell.append((trade, realised))
        current.quantity -= trade.quantity
        current.cost_basis -= removed
        current.realised_pnl += realised
        current.fees += trade.fees
        current.trades += 1
        if closing:
            current.closed_at = trade.executed_at
            current = None
    return Replay(positions=positions, realised=realised_by_sell)
