"""Registration and profiles: validation, conflicts, and users kept apart."""

from __future__ import annotations

from decimal import Decimal

from tests.helpers import PASSWORD, auth_headers, login, register


def test_register_defaults_and_fields(client):
    user = register(client, "ann@example.com", timezone="America/New_York", initial_capital="25000.50",
                    capital_currency="usd")
    assert user["role"] == "user"
    assert user["timezone"] == "America/New_York"
    assert Decimal(user["initial_capital"]) == Decimal("25000.50")
    assert user["capital_currency"] == "USD"
    assert user["created_at"].endswith(("Z", "+00:00"))
    assert "password" not in user and "password_hash" not in user


def test_duplicate_email_is_409(client):
    register(client, "ann@example.com")
    r = client.post("/api/v1/users/register",
                    json={"email": "ANN@example.com", "username": "other", "password": PASSWORD})
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "conflict"
    assert "ann@example.com" in r.json()["error"]["message"].lower()


def test_duplicate_username_is_409(client):
    register(client, "ann@example.com", username="ann")
    r = client.post("/api/v1/users/register",
                    json={"email": "ann2@example.com", "username": "ANN", "password": PASSWORD})
    assert r.status_code == 409 and "ANN" in r.json()["error"]["message"]


def test_validation_errors_name_each_field(client):
    cases = [
        ({"username": "ann", "password": PASSWORD}, "body.email", "missing"),
        ({"email": "not-an-email", "username": "ann", "password": PASSWORD}, "body.email", None),
        ({"email": "a@example.com", "username": "ann", "password": "short"}, "body.password", None),
        ({"email": "a@example.com", "username": "a b!", "password": PASSWORD}, "body.username", None),
        ({"email": "a@example.com", "username": "ann", "password": PASSWORD, "timezone": "Mars/Base"},
         "body.timezone", None),
        ({"email": "a@example.com", "username": "ann", "password": PASSWORD, "initial_capital": "-1"},
         "body.initial_capital", None),
        ({"email": "a@example.com", "username": "ann", "password": PASSWORD, "initial_capital": [1]},
         "body.initial_capital", None),
        ({"email": "a@example.com", "username": "ann", "password": PASSWORD, "capital_currency": "EUR"},
         "body.capital_currency", None),
        ({"email": "a@example.com", "username": "ann", "password": PASSWORD, "role": "admin"},
         "body.role", "extra_forbidden"),
    ]
    for body, field, kind in cases:
        r = client.post("/api/v1/users/register", json=body)
        assert r.status_code == 422, (body, r.text)
        error = r.json()["error"]
        assert error["code"] == "validation_error"
        assert field in [d["field"] for d in error["details"]], (body, error)
        assert field in error["message"]
        if kind:
            assert error["details"][0]["type"] == kind


def test_patch_me_changes_only_own_profile(client):
    ann = auth_headers(client, "ann@example.com")
    bob_headers = auth_headers(client, "bob@example.com")
    r = client.patch("/api/v1/users/me", headers=ann,
                     json={"timezone": "Europe/London", "initial_capital": "5000", "username": "ann_new"})
    assert r.status_code == 200, r.text
    assert r.json()["timezone"] == "Europe/London" and r.json()["username"] == "ann_new"
    bob = client.get("/api/v1/users/me", headers=bob_headers).json()
    assert bob["email"] == "bob@example.com" and bob["timezone"] == "Asia/Seoul"


def test_patch_me_password_change_takes_effect(client):
    headers = auth_headers(client, "ann@example.com")
    r = client.patch("/api/v1/users/me", headers=headers, json={"password": "a brand new secret"})
    assert r.status_code == 200
    assert login(client, "ann@example.com", "a brand new secret")["access_token"]
    r = client.post("/api/v1/users/token", data={"username": "ann@example.com", "password": PASSWORD})
    assert r.status_code == 401


def test_patch_me_rejects_taken_username_bad_zone_and_role_escalation(client):
    register(client, "bob@example.com", username="bob")
    headers = auth_headers(client, "ann@example.com")
    r = client.patch("/api/v1/users/me", headers=headers, json={"username": "bob"})
    assert r.status_code == 409
    r = client.patch("/api/v1/users/me", headers=headers, json={"timezone": "Nowhere/Town"})
    assert r.status_code == 422 and r.json()["error"]["details"][0]["field"] == "body.timezone"
    for forbidden in ({"role": "admin"}, {"email": "x@example.com"}, {"is_active": False}):
        r = client.patch("/api/v1/users/me", headers=headers, json=forbidden)
        assert r.status_code == 422, forbidden
    assert client.get("/api/v1/users/me", headers=headers).json()["role"] == "user"


def test_one_user_cannot_reach_another_through_a_token(client):
    """A's token always resolves to A; a token claiming B's id but not signed by us is refused."""
    from jose import jwt

    ann = auth_headers(client, "ann@example.com")
    bob = register(client, "bob@example.com")
    me = client.get("/api/v1/users/me", headers=ann).json()
    assert me["id"] != bob["id"]
    token = ann["Authorization"].split()[1]
    claims = jwt.get_unverified_claims(token)
    claims["sub"] = str(bob["id"])
    header, _, signature = token.split(".")
    tampered_payload = jwt.encode(claims, "x", algorithm="HS256").split(".")[1]
    tampered = f"{header}.{tampered_payload}.{signature}"
    r = client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {tampered}"})
    assert r.status_code == 401
    r = client.patch("/api/v1/users/me", headers={"Authorization": f"Bearer {tampered}"},
                     json={"timezone": "UTC"})
    assert r.status_code == 401
    assert client.get("/api/v1/users/me", headers=ann).json()["timezone"] == "Asia/Seoul"
