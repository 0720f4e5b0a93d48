"""The dashboard: one block per currency (KRW and USD never summed), latest stored close, allocation, cash."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from signalhub.models.stock import Stock
from signalhub.portfolios.service import record_trade
from tests.helpers import auth_headers
from tests.portfolios.api import buy, sell, user_id

D = Decimal


def blocks(client, headers, **params):
    r = client.get("/api/v1/users/dashboard", headers=headers, params=params)
    assert r.status_code == 200, r.text
    return {b["currency"]: b for b in r.json()["currencies"]}, r.json()


def test_krw_and_usd_blocks_are_computed_apart(client, market, ann, db_session):
    # SK hynix is known but has no stored bars: it is listed as unpriced, never valued at a made-up price.
    db_session.add(Stock(ticker="000660.KS", name="SK hynix Inc.", exchange="XKRX", currency="KRW",
                         sector="Technology"))
    db_session.commit()
    # KRW: buy 100 @ 55,000 fee 500 -> basis 5,500,500, average 55,005
    buy(client, ann, "005930.KS", "100", "55000", "500", "2025-06-02")
    # sell 40 @ 58,000 fee 300: 2,320,000 - 300 - 5,500,500 * 40 / 100 (2,200,200) = 119,500
    sell(client, ann, "005930.KS", "40", "58000", "300", "2025-06-10")
    buy(client, ann, "000660.KS", "1", "250000", "0", "2025-06-11")
    # USD: AAPL 10 @ 200 fee 1 -> basis 2,001; SPY (no sector) 2 @ 600 fee 0.5 -> basis 1,200.5
    buy(client, ann, "AAPL", "10", "200", "1", "2025-07-01")
    buy(client, ann, "SPY", "2", "600", "0.5", "2025-07-01")

    by_currency, body = blocks(client, ann)
    assert list(by_currency) == ["KRW", "USD"]  # capital currency first
    assert "latest stored daily bar" in body["price_basis"]

    krw = by_currency["KRW"]
    assert krw["is_capital_currency"] is True and D(krw["initial_capital"]) == D("10000000")
    [hynix, samsung] = sorted(krw["holdings"], key=lambda h: h["ticker"])
    # 60 left at the 2025-06-17 close of 58,450: 3,507,000; basis 3,300,300 -> unrealised 206,700
    assert samsung["price_date"] == "2025-06-17" and D(samsung["price"]) == D("58450")
    assert D(samsung["quantity"]) == 60 and D(samsung["cost_basis"]) == D("3300300")
    assert D(samsung["market_value"]) == D("3507000") and D(samsung["unrealised_pnl"]) == D("206700")
    assert D(samsung["return_pct"]) == D("6.26")  # 206,700 / 3,300,300 = 6.2631 %
    assert hynix["price"] is None and hynix["market_value"] is None and krw["unpriced"] == ["000660.KS"]
    assert D(krw["market_value"]) == D("3507000")
    assert D(krw["unrealised_pnl"]) == D("206700") and D(krw["realised_pnl"]) == D("119500")
    assert D(krw["total_pnl"]) == D("326200")
    # invested 5,500,500 + 250,000 = 5,750,500 -> 326,200 / 5,750,500 = 5.6726 %
    assert D(krw["invested"]) == D("5750500") and D(krw["return_pct"]) == D("5.67")
    # cash: 10,000,000 - 5,500,500 + 2,319,700 - 250,000 = 6,569,200; equity 6,569,200 + 3,507,000
    assert D(krw["cash"]) == D("6569200") and D(krw["equity"]) == D("10076200")
    assert D(krw["equity_return_pct"]) == D("0.76")  # 76,200 / 10,000,000 = 0.762 %
    assert krw["allocation_by_holding"] == [{"name": "005930.KS", "market_value": "3507000", "weight_pct": "100"}]
    assert krw["allocation_by_sector"] == [{"name": "Technology", "market_value": "3507000", "weight_pct": "100"}]

    usd = by_currency["USD"]
    assert usd["is_capital_currency"] is False and D(usd["initial_capital"]) == 0
    # AAPL 10 * 229.35 = 2,293.5 (unrealised 292.5); SPY 2 * 637.18 = 1,274.36 (unrealised 73.86)
    assert D(usd["market_value"]) == D("3567.86") and D(usd["cost_basis"]) == D("3201.5")
    assert D(usd["unrealised_pnl"]) == D("366.36") and D(usd["realised_pnl"]) == 0
    assert D(usd["cash"]) == D("-3201.5")  # no USD capital: cash starts at 0
    assert D(usd["equity"]) == D("366.36") and usd["equity_return_pct"] is None
    assert D(usd["return_pct"]) == D("11.44")  # 366.36 / 3,201.5 = 11.4434 %
    # 2,293.5 / 3,567.86 = 64.28 %; 1,274.36 / 3,567.86 = 35.72 %
    assert usd["allocation_by_holding"] == [
        {"name": "AAPL", "market_value": "2293.5", "weight_pct": "64.28"},
        {"name": "SPY", "market_value": "1274.36", "weight_pct": "35.72"}]
    assert usd["allocation_by_sector"] == [
        {"name": "Technology", "market_value": "2293.5", "weight_pct": "64.28"},
        {"name": "Unknown", "market_value": "1274.36", "weight_pct": "35.72"}]
    assert {h["sector"] for h in usd["holdings"]} == {"Technology", "Unknown"}


def test_usd_capital_and_an_empty_ledger(client, market):
    headers = auth_headers(client, "cyd@example.com", initial_capital="5000", capital_currency="USD")
    by_currency, _ = blocks(client, headers)
    assert list(by_currency) == ["USD"]
    usd = by_currency["USD"]
    assert D(usd["cash"]) == D("5000") == D(usd["equity"]) and D(usd["equity_return_pct"]) == 0
    assert usd["holdings"] == [] and usd["allocation_by_sector"] == [] and usd["return_pct"] is None
    buy(client, headers, "005930.KS", "10", "57000", "0", "2025-06-16")
    by_currency, _ = blocks(client, headers)
    # Buying Korean shares spends KRW the user never had: USD cash is untouched, KRW cash goes negative.
    assert D(by_currency["USD"]["cash"]) == D("5000") and D(by_currency["KRW"]["cash"]) == D("-570000")
    assert D(by_currency["KRW"]["initial_capital"]) == 0


def test_source_filter_limits_every_figure(client, market, ann, db_session):
    buy(client, ann, "AAPL", "10", "200", "1", "2025-07-01")
    record_trade(db_session, user_id(client, ann), ticker="AAPL", side="BUY", quantity=D("3"), price=D("210"),
                 fees=D("0"), executed_at=datetime(2025, 7, 2, 14, 0, tzinfo=UTC), source="paper",
                 external_ref="fill-1")
    db_session.commit()
    usd_all = blocks(client, ann)[0]["USD"]
    assert [(h["ticker"], h["source"]) for h in usd_all["holdings"]] == [("AAPL", "manual"), ("AAPL", "paper")]
    assert usd_all["allocation_by_holding"] == [{"name": "AAPL", "market_value": "2981.55", "weight_pct": "100"}]
    paper, body = blocks(client, ann, source="paper")
    assert body["source"] == "paper"
    assert [h["source"] for h in paper["USD"]["holdings"]] == ["paper"]
    assert D(paper["USD"]["market_value"]) == D("688.05")  # 3 * 229.35
    assert D(paper["USD"]["cash"]) == D("-630")
    assert client.get("/api/v1/users/dashboard", headers=ann, params={"source": "broker"}).status_code == 422
