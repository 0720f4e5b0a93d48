"""Alert rule CRUD over HTTP: validation naming the field, and users kept apart."""

from __future__ import annotations

import pytest

from tests.helpers import auth_headers


@pytest.fixture
def ann(client):
    return auth_headers(client, "ann@example.com")


def _channel(client, headers, address="ann@example.com") -> int:
    r = client.post("/api/v1/notifications/channels", headers=headers,
                    json={"kind": "email", "name": "mail", "config": {"address": address}})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def test_create_read_update_delete_a_rule(client, ann):
    channel = _channel(client, ann)
    body = {"name": "big moves", "tickers": ["aapl", "005930.ks"], "strategies": ["rsi_reversal"],
            "min_grade": "STRONG", "channel_ids": [channel], "quiet_start": "22:00", "quiet_end": "07:00",
            "cooldown_minutes": 60}
    r = client.post("/api/v1/alerts/rules", headers=ann, json=body)
    assert r.status_code == 201, r.text
    rule = r.json()
    assert rule["tickers"] == ["005930.KS", "AAPL"] and rule["actions"] == ["BUY", "SELL"] and rule["in_app"]
    r = client.patch(f"/api/v1/alerts/rules/{rule['id']}", headers=ann, json={"digest_minutes": 30,
                                                                              "quiet_start": None, "quiet_end": None})
    assert r.status_code == 200 and r.json()["digest_minutes"] == 30 and r.json()["quiet_start"] is None
    assert [x["id"] for x in client.get("/api/v1/alerts/rules", headers=ann).json()] == [rule["id"]]
    assert client.delete(f"/api/v1/alerts/rules/{rule['id']}", headers=ann).status_code == 204
    assert client.get(f"/api/v1/alerts/rules/{rule['id']}", headers=ann).status_code == 404


@pytest.mark.parametrize(("body", "field"), [
    ({"name": "x", "tickers": ["$$$"]}, "tickers"),
    ({"name": "x", "tickers": ["AAPL"], "strategies": ["astrology"]}, "strategies"),
    ({"name": "x"}, "tickers"),
    ({"name": "x", "tickers": ["AAPL"], "min_grade": "GREAT"}, "min_grade"),
    ({"name": "x", "tickers": ["AAPL"], "quiet_start": "25:00", "quiet_end": "07:00"}, "quiet_start"),
    ({"name": "x", "tickers": ["AAPL"], "quiet_start": "22:00"}, "quiet_start"),
    ({"name": "x", "tickers": ["AAPL"], "digest_minutes": 1}, "digest_minutes"),
    ({"name": "x", "tickers": ["AAPL"], "channel_ids": [999]}, "channel_ids"),
    ({"name": "x", "tickers": ["AAPL"], "in_app": False}, "channel_ids"),
    ({"name": "x", "tickers": ["AAPL"], "owner": 2}, "owner"),
])
def test_bad_rules_are_422_naming_the_field(client, ann, body, field):
    r = client.post("/api/v1/alerts/rules", headers=ann, json=body)
    assert r.status_code == 422, r.text
    assert field in r.json()["error"]["message"]


def test_users_cannot_see_use_or_change_each_others_rules_and_channels(client, ann):
    bob = auth_headers(client, "bob@example.com")
    ann_channel = _channel(client, ann)
    r = client.post("/api/v1/alerts/rules", headers=ann, json={"name": "a", "tickers": ["AAPL"]})
    rule_id = r.json()["id"]
    # Bob can neither read, change nor delete Ann's rule, nor route his own rule to Ann's channel.
    assert client.get(f"/api/v1/alerts/rules/{rule_id}", headers=bob).status_code == 404
    assert client.patch(f"/api/v1/alerts/rules/{rule_id}", headers=bob, json={"name": "mine"}).status_code == 404
    assert client.delete(f"/api/v1/alerts/rules/{rule_id}", headers=bob).status_code == 404
    r = client.post("/api/v1/alerts/rules", headers=bob, json={"name": "b", "tickers": ["AAPL"],
                                                               "channel_ids": [ann_channel]})
    assert r.status_code == 422 and "channel_ids" in r.json()["error"]["message"]
    assert client.get("/api/v1/alerts/rules", headers=bob).json() == []
    assert client.get("/api/v1/notifications/channels", headers=bob).json() == []
    assert client.delete(f"/api/v1/notifications/channels/{ann_channel}", headers=bob).status_code == 404
    assert client.post(f"/api/v1/notifications/channels/{ann_channel}/test", headers=bob).status_code == 404


def test_channel_config_is_validated_encrypted_and_never_returned(client, ann, db_session):
    from signalhub.models import NotificationChannel

    r = client.post("/api/v1/notifications/channels", headers=ann,
                    json={"kind": "email", "name": "m", "config": {"address": "not-an-email"}})
    assert r.status_code == 422 and "address" in r.json()["error"]["message"]
    r = client.post("/api/v1/notifications/channels", headers=ann,
                    json={"kind": "pigeon", "name": "m", "config": {}})
    assert r.status_code == 422 and r.json()["error"]["details"][0]["field"] == "body.kind"
    channel_id = _channel(client, ann, "ann.secret@example.com")
    listed = client.get("/api/v1/notifications/channels", headers=ann).json()[0]
    assert listed["destination_hint"] == "a***@example.com" and "config" not in listed
    stored = db_session.get(NotificationChannel, channel_id)
    assert "ann.secret" not in stored.config_encrypted
    r = client.post(f"/api/v1/notifications/channels/{channel_id}/test", headers=ann)
    assert r.status_code == 200 and r.json()["ok"] is True  # no SMTP configured: written to the outbox


@pytest.mark.parametrize("url", ["http://10.0.0.7/hook", "http://169.254.169.254/latest/meta-data",
                                 "http://192.168.1.1/", "http://[fd00::1]/x", "http://100.64.0.1/"])
def test_webhooks_to_private_addresses_are_refused(client, ann, url):
    r = client.post("/api/v1/notifications/channels", headers=ann,
                    json={"kind": "webhook", "name": "h", "config": {"url": url}})
    assert r.status_code == 422 and "url" in r.json()["error"]["message"]


def test_loopback_is_refused_unless_allowed(client, ann, env):
    env.setenv("ALLOW_LOOPBACK_DESTINATIONS", "false")
    r = client.post("/api/v1/notifications/channels", headers=ann,
                    json={"kind": "webhook", "name": "h", "config": {"url": "http://127.0.0.1:9/hook"}})
    assert r.status_code == 422 and "loopback" in r.json()["error"]["message"]
