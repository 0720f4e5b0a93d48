"""Login, tokens and brute-force protection through the real HTTP API."""

from __future__ import annotations

import time
from datetime import timedelta

from jose import jwt

from signalhub.core.config import get_settings
from signalhub.core.time import utcnow
from tests.helpers import PASSWORD, login, register


def test_login_returns_tokens_that_open_me(client):
    register(client, "ann@example.com")
    tokens = login(client, "ann@example.com")
    assert tokens["token_type"] == "bearer"
    assert tokens["expires_in"] == get_settings().access_token_expire_minutes * 60
    me = client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert me.status_code == 200
    assert me.json()["email"] == "ann@example.com"
    assert "password_hash" not in me.json()


def test_login_by_username_and_case_insensitive_email(client):
    register(client, "Bob@Example.com", username="bobby")
    assert login(client, "bobby")["access_token"]
    assert login(client, "BOB@example.COM")["access_token"]


def test_bad_credentials_are_401_with_one_error_shape(client):
    register(client, "ann@example.com")
    for name, password in (("ann@example.com", "wrong password"), ("nobody@example.com", PASSWORD)):
        r = client.post("/api/v1/users/token", data={"username": name, "password": password})
        assert r.status_code == 401
        assert r.headers["WWW-Authenticate"] == "Bearer"
        assert r.json()["error"] == {"status": 401, "code": "not_authenticated",
                                     "message": "Incorrect e-mail or password", "details": []}


def test_login_missing_form_fields_names_them(client):
    r = client.post("/api/v1/users/token", data={"username": "ann@example.com"})
    assert r.status_code == 422
    assert [d["field"] for d in r.json()["error"]["details"]] == ["body.password"]


def test_unknown_user_login_takes_as_long_as_a_wrong_password(client):
    register(client, "ann@example.com")

    def timed(name: str) -> float:
        start = time.perf_counter()
        client.post("/api/v1/users/token", data={"username": name, "password": "not the password"})
        return time.perf_counter() - start

    timed("warm-up@example.com")
    known = min(timed("ann@example.com") for _ in range(3))
    unknown = min(timed(f"ghost{i}@example.com") for i in range(3))
    # Without the dummy hash an unknown user answers in well under a tenth of the time.
    assert unknown > known * 0.5, (known, unknown)


def test_repeated_failures_are_rate_limited_with_retry_after(client):
    register(client, "ann@example.com")
    limit = get_settings().login_max_attempts
    for _ in range(limit):
        r = client.post("/api/v1/users/token", data={"username": "ann@example.com", "password": "nope-nope"})
        assert r.status_code == 401
    r = client.post("/api/v1/users/token", data={"username": "ann@example.com", "password": PASSWORD})
    assert r.status_code == 429
    assert 0 < int(r.headers["Retry-After"]) <= get_settings().login_window_seconds
    assert r.json()["error"]["code"] == "rate_limited"
    # Other accounts are not locked by one account's failures.
    register(client, "bob@example.com")
    assert login(client, "bob@example.com")["access_token"]


def test_refresh_rotates_and_a_reused_refresh_token_revokes_the_family(client):
    register(client, "ann@example.com")
    first = login(client, "ann@example.com")
    r = client.post("/api/v1/users/token/refresh", json={"refresh_token": first["refresh_token"]})
    assert r.status_code == 200
    second = r.json()
    assert second["refresh_token"] != first["refresh_token"]
    headers = {"Authorization": f"Bearer {second['access_token']}"}
    assert client.get("/api/v1/users/me", headers=headers).status_code == 200

    replay = client.post("/api/v1/users/token/refresh", json={"refresh_token": first["refresh_token"]})
    assert replay.status_code == 401
    assert "already been used" in replay.json()["error"]["message"]
    # The replay revoked the live token too: a thief and the user both have to log in again.
    r = client.post("/api/v1/users/token/refresh", json={"refresh_token": second["refresh_token"]})
    assert r.status_code == 401


def test_access_token_is_not_a_refresh_token_and_vice_versa(client):
    register(client, "ann@example.com")
    tokens = login(client, "ann@example.com")
    r = client.post("/api/v1/users/token/refresh", json={"refresh_token": tokens["access_token"]})
    assert r.status_code == 401 and "refresh token" in r.json()["error"]["message"]
    r = client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {tokens['refresh_token']}"})
    assert r.status_code == 401 and "access token" in r.json()["error"]["message"]


def _forge(claims: dict, key: str | None = None) -> str:
    settings = get_settings()
    return jwt.encode(claims, key or settings.secret_key, algorithm=settings.jwt_algorithm)


def test_expired_malformed_and_forged_tokens_are_401(client):
    user = register(client, "ann@example.com")
    now = utcnow()
    expired = _forge({"sub": str(user["id"]), "type": "access", "jti": "x",
                      "iat": int((now - timedelta(hours=2)).timestamp()),
                      "exp": int((now - timedelta(hours=1)).timestamp())})
    forged = _forge({"sub": str(user["id"]), "type": "access", "jti": "x",
                     "exp": int((now + timedelta(hours=1)).timestamp())}, key="not-the-server-key" * 3)
    no_sub = _forge({"type": "access", "jti": "x", "exp": int((now + timedelta(hours=1)).timestamp())})
    cases = {
        expired: "expired",
        forged: "signature",
        "not.a.jwt": "malformed",
        "garbage": "malformed",
        no_sub: "claims",
    }
    for token, words in cases.items():
        r = client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 401, (token, r.text)
        assert words in r.json()["error"]["message"], r.json()
    r = client.get("/api/v1/users/me")
    assert r.status_code == 401 and "Bearer" in r.json()["error"]["message"]


def test_deactivated_user_cannot_use_existing_token(client, db_session):
    from signalhub.models import User

    user = register(client, "ann@example.com")
    headers = {"Authorization": f"Bearer {login(client, 'ann@example.com')['access_token']}"}
    db_session.get(User, user["id"]).is_active = False
    db_session.commit()
    assert client.get("/api/v1/users/me", headers=headers).status_code == 401
    r = client.post("/api/v1/users/token", data={"username": "ann@example.com", "password": PASSWORD})
    assert r.status_code == 401
