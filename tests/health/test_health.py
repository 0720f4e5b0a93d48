"""Liveness and readiness probes against the real database and broker."""

from __future__ import annotations

from fastapi.testclient import TestClient


def test_healthz(client):
    assert client.get("/healthz").json() == {"status": "ok"}


def test_readyz_ready_when_database_and_broker_answer(client):
    r = client.get("/readyz")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "ready" and body["database"]["ok"] and body["broker"]["ok"]


def test_readyz_503_names_unreachable_broker(env):
    env.setenv("CELERY_BROKER_URL", "redis://127.0.0.1:1/0")
    from signalhub.main import create_app

    with TestClient(create_app()) as client:
        r = client.get("/readyz")
    assert r.status_code == 503
    body = r.json()
    assert body["database"]["ok"] is True
    assert body["broker"]["ok"] is False and body["broker"]["detail"]


def test_readyz_503_names_unreachable_database(env):
    env.setenv("DATABASE_URL", "postgresql+psycopg://nobody@127.0.0.1:1/none")
    from signalhub.main import create_app

    with TestClient(create_app()) as client:
        r = client.get("/readyz")
    assert r.status_code == 503
    assert r.json()["database"]["ok"] is False
