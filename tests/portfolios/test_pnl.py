"""Realised and unrealised P&L by average cost, hand-computed, through partial sells."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from signalhub.models.portfolio_transaction import TradeSide
from signalhub.portfolios.ledger import replay
from tests.portfolios.api import buy, sell

D = Decimal


def test_partial_sells_realise_against_the_average_cost(client, market, ann):
    # buy 10 @ 100 fee 1 -> basis 1001; buy 10 @ 110 fee 1 -> basis 2102, 20 held, average 2102 / 20 = 105.1
    buy(client, ann, "AAPL", "10", "100", "1", "2025-07-01")
    buy(client, ann, "AAPL", "10", "110", "1", "2025-07-02")
    # sell 5 @ 120 fee 1: (120 - 105.1) * 5 - 1 = 73.5; basis 2102 - 525.5 = 1576.5 for 15 shares
    first = sell(client, ann, "AAPL", "5", "120", "1", "2025-07-03")
    assert D(first["realised_pnl"]) == D("73.5")
    # sell 5 @ 90 fee 1: (90 - 105.1) * 5 - 1 = -76.5; basis 1576.5 - 525.5 = 1051 for 10 shares
    second = sell(client, ann, "AAPL", "5", "90", "1", "2025-07-07")
    assert D(second["realised_pnl"]) == D("-76.5")

    position = client.get("/api/v1/users/portfolio", headers=ann).json()["open"][0]
    assert (position["ticker"], position["source"], position["status"]) == ("AAPL", "manual", "open")
    assert D(position["quantity"]) == 10
    assert D(position["average_cost"]) == D("105.1")
    assert D(position["cost_basis"]) == D("1051")
    assert D(position["realised_pnl"]) == D("-3")  # 73.5 - 76.5
    assert D(position["invested"]) == D("2102")
    assert D(position["fees"]) == D("4")

    # At the latest stored close (AAPL 2025-08-08: 229.35): 10 * 229.35 - 1051 = 1242.5
    usd = next(b for b in client.get("/api/v1/users/dashboard", headers=ann).json()["currencies"]
               if b["currency"] == "USD")
    holding = usd["holdings"][0]
    assert holding["price_date"] == "2025-08-08" and D(holding["price"]) == D("229.35")
    assert D(holding["market_value"]) == D("2293.5")
    assert D(holding["unrealised_pnl"]) == D("1242.5")
    assert D(holding["return_pct"]) == D("118.22")  # 1242.5 / 1051 = 1.18220...
    assert D(usd["realised_pnl"]) == D("-3") and D(usd["unrealised_pnl"]) == D("1242.5")
    # cash: -1001 - 1101 + (600 - 1) + (450 - 1) = -1054
    assert D(usd["cash"]) == D("-1054")


def test_selling_everything_closes_the_position_and_a_new_buy_opens_another(client, market, ann):
    buy(client, ann, "AAPL", "4", "50", "2", "2025-07-01")  # basis 202, average 50.5
    closing = sell(client, ann, "AAPL", None, "60", "2", "2025-07-02")  # all 4: 240 - 2 - 202 = 36
    assert D(closing["quantity"]) == 4 and D(closing["realised_pnl"]) == D("36")
    buy(client, ann, "AAPL", "1", "70", "0", "2025-07-03")
    portfolio = client.get("/api/v1/users/portfolio", headers=ann).json()
    [closed], [opened] = portfolio["closed"], portfolio["open"]
    assert closed["closed_at"].startswith("2025-07-02") and D(closed["realised_pnl"]) == D("36")
    assert D(closed["quantity"]) == 0 and D(closed["cost_basis"]) == 0 and D(closed["average_cost"]) == D("50.5")
    assert opened["opened_at"].startswith("2025-07-03") and opened["closed_at"] is None
    assert D(opened["average_cost"]) == D("70") and D(opened["realised_pnl"]) == 0
    assert "AVERAGE COST" in portfolio["method"]


def test_a_backdated_buy_re_derives_the_realised_pnl_of_later_sells(client, market, ann):
    buy(client, ann, "AAPL", "10", "100", "0", "2025-07-01")
    sold = sell(client, ann, "AAPL", "10", "120", "0", "2025-07-10")
    assert D(sold["realised_pnl"]) == D("200")  # (120 - 100) * 10
    # A forgotten buy of 10 @ 80 on 07-02: average (1000 + 800) / 20 = 90, the sell realises (120 - 90) * 10 = 300
    buy(client, ann, "AAPL", "10", "80", "0", "2025-07-02")
    again = client.get(f"/api/v1/users/portfolio/transactions/{sold['id']}", headers=ann).json()
    assert D(again["realised_pnl"]) == D("300")
    position = client.get("/api/v1/users/portfolio", headers=ann).json()["open"][0]
    assert D(position["quantity"]) == 10 and D(position["cost_basis"]) == D("900")


class _Trade:
    def __init__(self, id, side, quantity, price, fees, day):
        self.id, self.side, self.quantity, self.price, self.fees = id, side, D(quantity), D(price), D(fees)
        self.executed_at = datetime(2025, 7, day, tzinfo=UTC)


def test_rounding_residue_is_absorbed_by_the_closing_sell():
    trades = [_Trade(1, TradeSide.BUY, "3", "100", "1", 1),  # basis 301, average 100.33333333
              _Trade(2, TradeSide.SELL, "1", "110", "0", 2),  # removes 100.33333333: realises 9.66666667
              _Trade(3, TradeSide.SELL, "2", "110", "0", 3)]  # removes the remaining 200.66666667: 19.33333333
    result = replay("AAPL", "manual", "USD", trades)
    assert [pnl for _, pnl in result.realised] == [D("9.66666667"), D("19.33333333")]
    [position] = result.positions
    assert position.realised_pnl == D("29") == 330 - 301  # nothing lost to rounding over the whole position
    assert position.cost_basis == 0 and position.closed_at == datetime(2025, 7, 3, tzinfo=UTC)


def test_same_day_trades_replay_in_the_order_they_were_recorded():
    trades = [_Trade(2, TradeSide.SELL, "5", "10", "0", 1), _Trade(1, TradeSide.BUY, "5", "8", "0", 1)]
    assert [pnl for _, pnl in replay("AAPL", "manual", "USD", trades).realised] == [D("10")]
