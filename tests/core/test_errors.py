"""Every 4xx/5xx uses one JSON shape; bad input never becomes a 500."""

from __future__ import annotations

from tests.helpers import auth_headers


def _assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"status", "code", "message", "details"}
    assert body["error"]["status"] == status and body["error"]["code"] == code
    return body["error"]


def test_ten_megabyte_body_is_413(client):
    big = b'{"email": "' + b"a" * (10 * 1024 * 1024) + b'"}'
    r = client.post("/api/v1/users/register", content=big, headers={"Content-Type": "application/json"})
    _assert_error(r, 413, "payload_too_large")


def test_chunked_oversized_body_is_413(client):
    def chunks():
        for _ in range(20):
            yield b"x" * (256 * 1024)

    r = client.post("/api/v1/users/register", content=chunks(), headers={"Content-Type": "application/json"})
    _assert_error(r, 413, "payload_too_large")


def test_malformed_json_is_422_not_500(client):
    r = client.post("/api/v1/users/register", content=b'{"email": ',
                    headers={"Content-Type": "application/json"})
    error = _assert_error(r, 422, "validation_error")
    assert error["details"][0]["type"] == "json_invalid"


def test_wrong_types_name_the_field(client):
    headers = auth_headers(client, "ann@example.com")
    r = client.patch("/api/v1/users/me", headers=headers, json={"initial_capital": {"a": 1}})
    error = _assert_error(r, 422, "validation_error")
    assert error["details"][0]["field"] == "body.initial_capital"
    r = client.patch("/api/v1/users/me", headers=headers, json=["not", "an", "object"])
    _assert_error(r, 422, "validation_error")


def test_unknown_route_and_wrong_method(client):
    _assert_error(client.get("/api/v1/nothing-here"), 404, "not_found")
    _assert_error(client.delete("/api/v1/users/me"), 405, "method_not_allowed")
