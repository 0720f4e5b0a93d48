"""The seeded demo: a fresh install shows a real portfolio, rules and a finished simulation."""

from __future__ import annotations

from signalhub.core.db import session_scope
from signalhub.demo import DEMO_EMAIL, seed_demo
from tests.helpers import auth_headers, login
from tests.market_data.test_stock_endpoints import seed


def test_demo_user_sees_real_numbers(client):
    seed(["AAPL", "MSFT", "NVDA", "GOOGL", "TSLA", "005930.KS"])
    with session_scope() as session:
        lines = seed_demo(session, password="demo-password-1")
    assert lines[0].startswith(f"demo user {DEMO_EMAIL} / demo-password-1")
    with session_scope() as session:
        assert seed_demo(session) == [f"demo user {DEMO_EMAIL} exists already"]

    headers = {"Authorization": f"Bearer {login(client, DEMO_EMAIL, 'demo-password-1')['access_token']}"}
    portfolio = client.get("/api/v1/users/portfolio", headers=headers)
    assert portfolio.status_code == 200, portfolio.text
    dashboard = client.get("/api/v1/users/dashboard", headers=headers).json()
    assert "USD" in str(dashboard)
    rules = client.get("/api/v1/alerts/rules", headers=headers).json()
    assert len(rules["items"] if isinstance(rules, dict) else rules) == 2
    [simulation] = client.get("/api/v1/simulations/", headers=headers).json()
    detail = client.get(f"/api/v1/simulations/{simulation['id']}", headers=headers).json()
    assert detail["status"] == "SUCCEEDED" and detail["results"]["metrics"]["trades"] > 0
    assert client.get(f"/api/v1/simulations/{simulation['id']}/chart.png", headers=headers).content[:4] == b"\x89PNG"
    # Nobody else sees the demo's data.
    other = auth_headers(client, "ann@example.com")
    assert client.get(f"/api/v1/simulations/{simulation['id']}", headers=other).status_code == 404
