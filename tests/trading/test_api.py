"""The trading API: credentials never leave in clear, opt-in rules, settings validation, isolation, kill switch."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select, text

from signalhub.core.db import session_scope
from signalhub.models.user import User, UserRole
from signalhub.trading import execution
from tests.helpers import auth_headers
from tests.trading.support import OPEN_AT, TICKER, add_signal, add_stock, opt_in_direct, user_id

CREDS = {"environment": "paper", "app_key": "PSAPPKEY1234567890abcd", "app_secret": "SECRET-very-secret-value-42xyz",
         "account_no": "50123456", "product_code": "01", "hts_id": "myhtsid77"}


def test_credentials_are_encrypted_and_never_returned(client, db_session):
    headers = auth_headers(client, "kis@example.com")
    response = client.put("/api/v1/broker/credentials", json=CREDS, headers=headers)
    assert response.status_code == 200, response.text
    for body in (response.text, client.get("/api/v1/broker/credentials", headers=headers).text,
                 client.get("/api/v1/trading/settings", headers=headers).text):
        for secret in (CREDS["app_key"], CREDS["app_secret"], CREDS["account_no"], CREDS["hts_id"]):
            assert secret not in body
    assert response.json()["app_key_hint"].endswith("abcd") and "*" in response.json()["app_key_hint"]
    row = db_session.execute(text("SELECT * FROM broker_accounts")).mappings().one()
    raw = " ".join(str(v) for v in row.values())
    for secret in (CREDS["app_key"], CREDS["app_secret"], CREDS["account_no"], CREDS["hts_id"]):
        assert secret not in raw
    # Paper keys send paper orders to KIS paper instead of the internal paper broker.
    assert client.post("/api/v1/trading/opt-in", json={}, headers=headers).json()["broker"] == "kis_paper"
    assert client.delete("/api/v1/broker/credentials", headers=headers).status_code == 204
    assert client.get("/api/v1/trading/settings", headers=headers).json()["broker"] == "paper"


def test_bad_credentials_name_the_field(client):
    headers = auth_headers(client, "bad@example.com")
    response = client.put("/api/v1/broker/credentials", json={**CREDS, "account_no": "12-34"}, headers=headers)
    assert response.status_code == 422 and response.json()["error"]["details"][0]["field"] == "body.account_no"


def test_opt_in_is_paper_by_default_and_real_needs_two_switches(client):
    headers = auth_headers(client, "opt@example.com")
    body = client.post("/api/v1/trading/opt-in", headers=headers).json()
    assert (body["opted_in"], body["mode"], body["broker"]) == (True, "paper", "paper")
    refused = client.post("/api/v1/trading/opt-in", json={"mode": "real"}, headers=headers)
    assert refused.status_code == 422 and "confirm_real_trading" in refused.json()["error"]["message"]
    no_keys = client.post("/api/v1/trading/opt-in", json={"mode": "real", "confirm_real_trading": True},
                          headers=headers)
    assert no_keys.status_code == 422 and "mode" in no_keys.json()["error"]["message"]
    client.put("/api/v1/broker/credentials", json=CREDS, headers=headers)  # paper keys are not enough
    assert client.post("/api/v1/trading/opt-in", json={"mode": "real", "confirm_real_trading": True},
                       headers=headers).status_code == 422
    client.put("/api/v1/broker/credentials", json={**CREDS, "environment": "real"}, headers=headers)
    real = client.post("/api/v1/trading/opt-in", json={"mode": "real", "confirm_real_trading": True},
                       headers=headers).json()
    assert (real["mode"], real["broker"]) == ("real", "kis_real")
    out = client.post("/api/v1/trading/opt-out", headers=headers).json()
    assert (out["opted_in"], out["mode"]) == (False, "paper")


def test_settings_are_validated(client):
    headers = auth_headers(client, "limits@example.com")
    response = client.put("/api/v1/trading/settings", json={"max_symbol_weight_pct": 0}, headers=headers)
    assert response.status_code == 422 and response.json()["error"]["details"][0]["field"] == \
        "body.max_symbol_weight_pct"
    assert client.put("/api/v1/trading/settings", json={"max_orders_per_day": None},
                      headers=headers).status_code == 422
    ok = client.put("/api/v1/trading/settings", json={"max_orders_per_day": 3, "tickers": [" 005930.ks"]},
                    headers=headers).json()
    assert ok["max_orders_per_day"] == 3 and ok["tickers"] == [TICKER] and float(ok["daily_loss_limit_pct"]) == 2


def test_orders_and_risk_events_are_private(client):
    owner = auth_headers(client, "owner@example.com")
    other = auth_headers(client, "other@example.com")
    uid = user_id("owner@example.com")
    opt_in_direct(uid)
    add_stock()
    order_id = execution.place_for_signal(uid, add_signal(), OPEN_AT)
    mine = client.get(f"/api/v1/orders/{order_id}", headers=owner)
    assert mine.status_code == 200 and mine.json()["state"] == "FILLED" and len(mine.json()["fills"]) == 1
    assert mine.json()["broker_report"]["filled_quantity"] == mine.json()["filled_quantity"]
    assert client.get(f"/api/v1/orders/{order_id}", headers=other).status_code == 404
    assert client.delete(f"/api/v1/orders/{order_id}", headers=other).status_code == 404
    assert client.get("/api/v1/orders", headers=other).json()["total"] == 0
    assert client.get("/api/v1/orders", headers=owner).json()["total"] == 1
    assert client.get("/api/v1/risk/events", headers=other).json()["total"] == 0
    events = client.get(f"/api/v1/risk/events?order_id={order_id}", headers=owner).json()
    assert events["total"] > 0 and all(e["decision"] == "APPROVED" for e in events["items"])
    positions = client.get("/api/v1/positions", headers=owner).json()
    assert positions["positions"][0]["ticker"] == TICKER and positions["positions"][0]["source"] == "paper"
    assert positions["broker_holdings"][0]["quantity"] == positions["positions"][0]["quantity"].split(".")[0]
    assert client.get("/api/v1/positions", headers=other).json()["positions"] == []
    # Cancelling a filled order changes nothing.
    assert client.delete(f"/api/v1/orders/{order_id}", headers=owner).json()["state"] == "FILLED"


def test_manual_order_goes_through_the_risk_rules(client):
    headers = auth_headers(client, "manual@example.com")
    add_stock()
    assert client.post("/api/v1/orders", json={"ticker": TICKER, "side": "BUY", "quantity": 1},
                       headers=headers).status_code == 409  # not opted in
    client.post("/api/v1/trading/opt-in", headers=headers)
    bad = client.post("/api/v1/orders", json={"ticker": TICKER, "side": "HOLD", "quantity": 1}, headers=headers)
    assert bad.status_code == 422 and bad.json()["error"]["details"][0]["field"] == "body.side"
    big = client.post("/api/v1/orders", json={"ticker": TICKER, "side": "BUY", "quantity": 100,
                                              "client_order_id": "big-1"}, headers=headers)
    assert big.status_code == 201 and big.json()["state"] == "REJECTED"
    assert "max_position_size" in big.json()["reason"]  # 7,000,000 of 10,000,000 equity
    again = client.post("/api/v1/orders", json={"ticker": TICKER, "side": "BUY", "quantity": 100,
                                                "client_order_id": "big-1"}, headers=headers)
    assert again.json()["id"] == big.json()["id"]  # idempotent on client_order_id
    rejected = client.get("/api/v1/risk/events?decision=REJECTED", headers=headers).json()["items"]
    assert any(e["rule"] == "max_position_size" and e["value"] == "70.000000" for e in rejected)


def test_kill_switches_through_the_api(client):
    headers = auth_headers(client, "killer@example.com")
    uid = user_id("killer@example.com")
    opt_in_direct(uid)
    assert client.post("/api/v1/trading/kill-switch", json={"enabled": True},
                       headers=headers).json()["kill_switch"] is True
    assert client.post("/api/v1/admin/kill-switch", json={"enabled": True},
                       headers=headers).status_code == 403
    with session_scope() as session:
        session.scalars(select(User).where(User.email == "killer@example.com")).one().role = UserRole.ADMIN
    flag = client.post("/api/v1/admin/kill-switch", json={"enabled": True, "reason": "drill"}, headers=headers)
    assert flag.status_code == 200 and flag.json()["enabled"] is True
    add_stock()
    order_id = execution.place_for_signal(uid, add_signal(bar_ts=datetime(2025, 1, 14, tzinfo=UTC)), OPEN_AT)
    reason = client.get(f"/api/v1/orders/{order_id}", headers=headers).json()["reason"]
    assert "global_kill_switch" in reason and "user_kill_switch" in reason
