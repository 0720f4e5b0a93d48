"""The ledger other domains write to: idempotent broker fills, sources kept apart, deletes, user isolation."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from signalhub.core.errors import ConflictError, NotFoundError, UnprocessableError
from signalhub.models.portfolio_transaction import PortfolioTransaction
from signalhub.portfolios.service import delete_transaction, positions, record_trade
from tests.portfolios.api import buy, sell, user_id

D = Decimal
AT = datetime(2025, 7, 1, 14, 30, tzinfo=UTC)


def fill(session, uid, side="BUY", quantity="5", price="200", source="kis_paper", ref="ODNO-1", **extra):
    return record_trade(session, uid, ticker=extra.pop("ticker", "AAPL"), side=side, quantity=D(quantity),
                        price=D(price), fees=D(extra.pop("fees", "0.5")), executed_at=extra.pop("at", AT),
                        source=source, external_ref=ref)


def count(session) -> int:
    return session.scalar(select(func.count()).select_from(PortfolioTransaction))


def test_a_fill_recorded_twice_is_stored_once(client, market, ann, bob, db_session):
    uid, other = user_id(client, ann), user_id(client, bob)
    first = fill(db_session, uid)
    db_session.commit()
    again = fill(db_session, uid, fees="0.75")  # fees settled later may differ; the trade is the same
    db_session.commit()
    assert again.id == first.id and count(db_session) == 1
    assert first.currency == "USD" and first.price == D("200") and first.source == "kis_paper"
    # The same broker reference in another source, or for another user, is another trade.
    fill(db_session, uid, source="kis_real")
    fill(db_session, other)
    db_session.commit()
    assert count(db_session) == 3
    with pytest.raises(ConflictError, match="external_ref: 'ODNO-1'"):
        fill(db_session, uid, quantity="6")
    # Without a reference nothing is deduplicated: two identical manual trades are two trades.
    fill(db_session, uid, source="manual", ref=None)
    fill(db_session, uid, source="manual", ref=None)
    db_session.commit()
    assert count(db_session) == 5


def test_positions_are_kept_per_source_side_by_side(client, market, ann, db_session):
    uid = user_id(client, ann)
    buy(client, ann, "AAPL", "10", "190", "1", "2025-07-01")
    fill(db_session, uid, quantity="5", price="200", fees="0.5")
    fill(db_session, uid, side="SELL", quantity="2", price="210", fees="0.5", ref="ODNO-2",
         at=datetime(2025, 7, 2, 14, 30, tzinfo=UTC))
    db_session.commit()
    # 15 AAPL in total, but only 10 in the manual portfolio: selling 12 there is refused.
    r = client.put("/api/v1/users/portfolio/sell", headers=ann,
                   json={"ticker": "AAPL", "quantity": "12", "price": "220", "date": "2025-07-03"})
    assert r.status_code == 422
    assert r.json()["error"]["message"].startswith("quantity: cannot sell 12 AAPL; only 10 held in source 'manual'")

    by_source = {p.source: p for p in positions(db_session, uid)}
    assert set(by_source) == {"manual", "kis_paper"}
    assert by_source["manual"].quantity == 10 and by_source["manual"].average_cost == D("190.1")
    # kis_paper: basis 1000.5, average 200.1; sell 2 @ 210 fee 0.5: (210 - 200.1) * 2 - 0.5 = 19.3
    assert by_source["kis_paper"].quantity == 3 and by_source["kis_paper"].realised_pnl == D("19.3")
    assert [p.source for p in positions(db_session, uid, "kis_paper")] == ["kis_paper"]

    body = client.get("/api/v1/users/portfolio", headers=ann).json()
    assert [(p["ticker"], p["source"]) for p in body["open"]] == [("AAPL", "kis_paper"), ("AAPL", "manual")]
    only = client.get("/api/v1/users/portfolio", headers=ann, params={"source": "manual"}).json()
    assert [p["source"] for p in only["open"]] == ["manual"]
    # Selling more than the broker source holds is refused to the broker engine too.
    with pytest.raises(UnprocessableError, match="quantity: cannot sell 4 AAPL; only 3 held in source 'kis_paper'"):
        fill(db_session, uid, side="SELL", quantity="4", ref="ODNO-3", at=datetime(2025, 7, 3, tzinfo=UTC))


def test_deleting_keeps_the_ledger_valid(client, market, ann, db_session):
    uid = user_id(client, ann)
    first = buy(client, ann, "AAPL", "10", "100", "0", "2025-07-01")
    second = buy(client, ann, "AAPL", "10", "80", "0", "2025-07-02")
    sold = sell(client, ann, "AAPL", "15", "120", "0", "2025-07-03")
    assert D(sold["realised_pnl"]) == D("450")  # (120 - 90) * 15
    r = client.delete(f"/api/v1/users/portfolio/transactions/{first['id']}", headers=ann)
    assert r.status_code == 409
    assert f"sell #{sold['id']} of 15 AAPL on 2025-07-03" in r.json()["error"]["message"]
    broker = fill(db_session, uid, ref="ODNO-9")
    db_session.commit()
    r = client.delete(f"/api/v1/users/portfolio/transactions/{broker.id}", headers=ann)
    assert r.status_code == 409 and "only manual" in r.json()["error"]["message"]

    # Selling 15 of 20, then deleting nothing but a later buy keeps things valid; deleting the sell too.
    extra = buy(client, ann, "AAPL", "1", "130", "0", "2025-07-04")
    assert client.delete(f"/api/v1/users/portfolio/transactions/{extra['id']}", headers=ann).status_code == 204
    assert client.delete(f"/api/v1/users/portfolio/transactions/{sold['id']}", headers=ann).status_code == 204
    assert client.delete(f"/api/v1/users/portfolio/transactions/{first['id']}", headers=ann).status_code == 204
    manual = positions(db_session, uid, "manual")
    assert [(p.quantity, p.cost_basis) for p in manual] == [(D("10"), D("800"))]
    listed = client.get("/api/v1/users/portfolio/transactions", headers=ann, params={"source": "manual"}).json()
    assert listed["total"] == 1 and listed["items"][0]["id"] == second["id"]


def test_deleting_a_buy_re_derives_later_realised_pnl(client, market, ann):
    cheap = buy(client, ann, "AAPL", "10", "80", "0", "2025-07-01")
    buy(client, ann, "AAPL", "10", "100", "0", "2025-07-02")
    sold = sell(client, ann, "AAPL", "5", "120", "0", "2025-07-03")
    assert D(sold["realised_pnl"]) == D("150")  # (120 - 90) * 5
    assert client.delete(f"/api/v1/users/portfolio/transactions/{cheap['id']}", headers=ann).status_code == 204
    again = client.get(f"/api/v1/users/portfolio/transactions/{sold['id']}", headers=ann).json()
    assert D(again["realised_pnl"]) == D("100")  # (120 - 100) * 5


def test_another_users_ledger_is_invisible(client, market, ann, bob, db_session):
    mine = buy(client, ann, "AAPL", "10", "100", "1", "2025-07-01")
    path = f"/api/v1/users/portfolio/transactions/{mine['id']}"
    assert client.get(path, headers=ann).status_code == 200
    for method in ("get", "delete"):
        r = getattr(client, method)(path, headers=bob)
        assert r.status_code == 404, r.text
        assert r.json()["error"]["message"] == f"Transaction {mine['id']} not found"
    assert client.get("/api/v1/users/portfolio", headers=bob).json() == {
        "method": client.get("/api/v1/users/portfolio", headers=ann).json()["method"], "open": [], "closed": []}
    assert client.get("/api/v1/users/portfolio/transactions", headers=bob).json()["total"] == 0
    dashboard = client.get("/api/v1/users/dashboard", headers=bob).json()
    assert [(b["currency"], b["holdings"], b["cash"]) for b in dashboard["currencies"]] == [("KRW", [], "10000000")]
    # Bob cannot sell what Ann holds.
    r = client.put("/api/v1/users/portfolio/sell", headers=bob, json={"ticker": "AAPL", "price": "100"})
    assert r.status_code == 422 and "ticker: you hold no AAPL" in r.json()["error"]["message"]
    with pytest.raises(NotFoundError):
        delete_transaction(db_session, user_id(client, bob), mine["id"])
    assert client.get(path, headers=ann).status_code == 200
    assert client.get("/api/v1/users/portfolio/transactions/999999", headers=ann).status_code == 404
    for anonymous in (client.get("/api/v1/users/portfolio"), client.get("/api/v1/users/dashboard")):
        assert anonymous.status_code == 401
