"""Helpers for portfolio tests: record trades through the API and look up the signed-in user."""

from __future__ import annotations


def buy(client, headers, ticker, quantity, price, fees, date):
    """Record a manual buy through the API; return the transaction."""
    r = client.post("/api/v1/users/portfolio", headers=headers,
                    json={"ticker": ticker, "quantity": quantity, "price": price, "fees": fees, "date": date})
    assert r.status_code == 201, r.text
    return r.json()


def sell(client, headers, ticker, quantity, price, fees, date):
    """Record a manual sell through the API (quantity None: everything held); return the transaction."""
    body = {"ticker": ticker, "price": price, "fees": fees, "date": date}
    if quantity is not None:
        body["quantity"] = quantity
    r = client.put("/api/v1/users/portfolio/sell", headers=headers, json=body)
    assert r.status_code == 200, r.text
    return r.json()


def user_id(client, headers) -> int:
    """Id of the user behind `headers`."""
    return client.get("/api/v1/users/me", headers=headers).json()["id"]
