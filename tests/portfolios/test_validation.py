"""Bad input is a 4xx naming the field: quantities, prices, fees, tickers, dates, overselling."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from signalhub.core.errors import NotFoundError, UnprocessableError
from signalhub.portfolios.service import record_trade
from tests.portfolios.api import buy, sell, user_id

D = Decimal
GOOD = {"ticker": "AAPL", "quantity": "10", "price": "200", "fees": "1", "date": "2025-07-01"}


@pytest.mark.parametrize(("change", "field"), [
    ({"quantity": "0"}, "body.quantity"),
    ({"quantity": "-3"}, "body.quantity"),
    ({"quantity": "1.123456789"}, "body.quantity"),
    ({"price": "0"}, "body.price"),
    ({"price": "-200"}, "body.price"),
    ({"price": "1.1234567"}, "body.price"),
    ({"fees": "-0.01"}, "body.fees"),
    ({"ticker": ""}, "body.ticker"),
    ({"date": "yesterday"}, "body.date"),
    ({"side": "SELL"}, "body.side"),
])
def test_schema_errors_name_the_field(client, market, ann, change, field):
    for method, path in (("post", "/api/v1/users/portfolio"), ("put", "/api/v1/users/portfolio/sell")):
        r = getattr(client, method)(path, headers=ann, json={**GOOD, **change})
        assert r.status_code == 422, r.text
        assert field in {d["field"] for d in r.json()["error"]["details"]} or any(
            d["field"].startswith(field) for d in r.json()["error"]["details"]), r.text
    assert client.get("/api/v1/users/portfolio/transactions", headers=ann).json()["total"] == 0


def test_missing_fields_are_named(client, market, ann):
    r = client.post("/api/v1/users/portfolio", headers=ann, json={"ticker": "AAPL"})
    assert r.status_code == 422
    assert {d["field"] for d in r.json()["error"]["details"]} == {"body.quantity", "body.price"}


def test_unknown_and_malformed_tickers(client, market, ann):
    r = client.post("/api/v1/users/portfolio", headers=ann, json={**GOOD, "ticker": "zzzz"})
    assert r.status_code == 404 and r.json()["error"]["message"] == "Unknown ticker 'ZZZZ'"
    r = client.put("/api/v1/users/portfolio/sell", headers=ann, json={**GOOD, "ticker": "ZZZZ"})
    assert r.status_code == 404 and "ZZZZ" in r.json()["error"]["message"]
    r = client.post("/api/v1/users/portfolio", headers=ann, json={**GOOD, "ticker": "A B"})
    assert r.status_code == 422 and "'A B' is not a valid ticker symbol" in r.json()["error"]["message"]


def test_future_and_too_early_dates_are_refused(client, market, ann):
    # Two days ahead is the future in every exchange's time zone.
    tomorrow = (datetime.now(UTC) + timedelta(days=2)).date().isoformat()
    soon = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    for date in (tomorrow, soon):
        r = client.post("/api/v1/users/portfolio", headers=ann, json={**GOOD, "date": date})
        assert r.status_code == 422, r.text
        assert r.json()["error"]["message"].startswith("date: ") and "in the future" in r.json()["error"]["message"]
    r = client.post("/api/v1/users/portfolio", headers=ann, json={**GOOD, "date": "1989-12-29"})
    assert r.status_code == 422
    assert r.json()["error"]["message"].startswith("date: 1989-12-29 is before 1990-01-01")
    # Today is fine on any exchange (a Korean "today" starts before UTC's; the time is clamped to now).
    today_seoul = (datetime.now(UTC) + timedelta(hours=9)).date().isoformat()
    recorded = buy(client, ann, "005930.KS", "1", "58000", "0", today_seoul)
    assert datetime.fromisoformat(recorded["executed_at"]) <= datetime.now(UTC)


def test_a_day_the_exchange_was_closed_is_accepted_and_said(client, market, ann):
    # 2025-06-14 is a Saturday; 2025-06-03 was the Korean presidential election (KRX closed, NYSE open).
    saturday = buy(client, ann, "005930.KS", "1", "58000", "0", "2025-06-14")
    assert saturday["notes"] == ["2025-06-14 was not a trading session on XKRX (weekend or holiday); "
                                 "the trade is recorded as given"]
    holiday = buy(client, ann, "005930.KS", "1", "58000", "0", "2025-06-03")
    assert holiday["notes"] and "XKRX" in holiday["notes"][0]
    assert buy(client, ann, "AAPL", "1", "200", "0", "2025-06-03")["notes"] == []
    assert buy(client, ann, "AAPL", "1", "200", "0", "2025-07-04")["notes"][0].startswith("2025-07-04 was not")


def test_overselling_is_refused(client, market, ann):
    r = client.put("/api/v1/users/portfolio/sell", headers=ann, json={**GOOD})
    assert r.status_code == 422
    assert r.json()["error"]["message"] == "quantity: cannot sell 10 AAPL; only 0 held in source 'manual' on 2025-07-01"
    r = client.put("/api/v1/users/portfolio/sell", headers=ann, json={"ticker": "AAPL", "price": "200"})
    assert r.status_code == 422 and r.json()["error"]["message"].startswith("ticker: you hold no AAPL")
    buy(client, ann, "AAPL", "10", "100", "0", "2025-07-01")
    r = client.put("/api/v1/users/portfolio/sell", headers=ann, json={**GOOD, "quantity": "10.5"})
    assert r.status_code == 422 and "cannot sell 10.5 AAPL; only 10 held" in r.json()["error"]["message"]
    # Selling before the buy happened is overselling too.
    r = client.put("/api/v1/users/portfolio/sell", headers=ann, json={**GOOD, "quantity": "1", "date": "2025-06-30"})
    assert r.status_code == 422 and "only 0 held" in r.json()["error"]["message"]
    # A backdated sell that would leave a later sell short is a conflict with the stored ledger.
    later = sell(client, ann, "AAPL", "8", "120", "0", "2025-07-10")
    r = client.put("/api/v1/users/portfolio/sell", headers=ann, json={**GOOD, "quantity": "5", "date": "2025-07-05"})
    assert r.status_code == 409
    assert r.json()["error"]["message"] == (
        f"quantity: the sell #{later['id']} of 8 AAPL on 2025-07-10 would then sell more than the 5 held in "
        "source 'manual'")
    assert client.get("/api/v1/users/portfolio/transactions", headers=ann).json()["total"] == 2


def test_query_filters_are_validated(client, market, ann):
    for path in ("/api/v1/users/portfolio", "/api/v1/users/dashboard", "/api/v1/users/portfolio/transactions"):
        r = client.get(path, headers=ann, params={"source": "broker"})
        assert r.status_code == 422 and r.json()["error"]["details"][0]["field"] == "query.source"
    r = client.get("/api/v1/users/portfolio/transactions", headers=ann, params={"limit": 0})
    assert r.status_code == 422 and r.json()["error"]["details"][0]["field"] == "query.limit"


AT = datetime(2025, 7, 1, 14, 30, tzinfo=UTC)


RECORD_TRADE_ERRORS = [
    ({"side": "HOLD"}, "side: must be one of BUY, SELL"),
    ({"source": "broker"}, "source: must be one of manual, paper, kis_paper, kis_real"),
    ({"quantity": D("0")}, "quantity: must be greater than 0"),
    ({"quantity": D("-1")}, "quantity: must be greater than 0"),
    ({"quantity": 1.5}, "quantity: must be a finite decimal number"),
    ({"quantity": D("NaN")}, "quantity: must be a finite decimal number"),
    ({"quantity": D("0.000000001")}, "quantity: at most 8 decimal places"),
    ({"price": D("-1")}, "price: must be greater than 0"),
    ({"price": D("0.0000001")}, "price: rounds to 0"),
    ({"fees": D("-0.5")}, "fees: must be 0 or more"),
    ({"executed_at": datetime.now(UTC) + timedelta(hours=1)}, "executed_at: "),
    ({"executed_at": datetime(1985, 1, 2, tzinfo=UTC)}, "executed_at: 1985-01-02 is before 1990-01-01"),
    ({"external_ref": "  "}, "external_ref: must be 1 to 64 characters"),
    ({"external_ref": "x" * 65}, "external_ref: must be 1 to 64 characters"),
]


def test_record_trade_names_the_field(client, market, ann, db_session):
    uid = user_id(client, ann)
    for change, message in RECORD_TRADE_ERRORS:
        args = {"ticker": "AAPL", "side": "BUY", "quantity": D("1"), "price": D("200"), "fees": D("0"),
                "executed_at": AT, "source": "paper", "external_ref": None, **change}
        with pytest.raises(UnprocessableError) as caught:
            record_trade(db_session, uid, **args)
        assert caught.value.message.startswith(message), (change, caught.value.message)
    assert client.get("/api/v1/users/portfolio/transactions", headers=ann).json()["total"] == 0


def test_record_trade_normalises_what_it_can(client, market, ann, db_session):
    uid = user_id(client, ann)
    with pytest.raises(NotFoundError, match="Unknown ticker 'NOPE'"):
        record_trade(db_session, uid, ticker="NOPE", side="BUY", quantity=D("1"), price=D("1"), fees=D("0"),
                     executed_at=AT, source="paper")
    # Lower-case side and ticker, a naive time (taken as UTC), a price with more than 6 decimals (rounded).
    trade = record_trade(db_session, uid, ticker="aapl", side="buy", quantity=D("1.5"), price=D("200.1234565"),
                         fees=D("0.0000005"), executed_at=datetime(2025, 7, 1, 15, 0), source="PAPER",
                         external_ref=" fill-7 ")
    db_session.commit()
    assert (trade.ticker, trade.side, trade.source, trade.external_ref) == ("AAPL", "BUY", "paper", "fill-7")
    assert trade.price == D("200.123456") and trade.fees == D("0")  # banker's rounding at 6 decimals
    assert trade.executed_at == datetime(2025, 7, 1, 15, 0, tzinfo=UTC)
