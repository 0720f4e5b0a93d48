"""Swagger UI and the OpenAPI document: every route tagged, with a response model."""

from __future__ import annotations

from tests.helpers import PASSWORD, register


def test_every_operation_has_tags_and_a_typed_success_response(client):
    spec = client.get("/openapi.json").json()
    assert spec["info"]["title"] == "Signalhub"
    for path, methods in spec["paths"].items():
        for method, op in methods.items():
            assert op.get("tags"), f"{method.upper()} {path} has no tag"
            code, success = next((k, v) for k, v in op["responses"].items() if k.startswith("2"))
            if code == "204" or {"text/event-stream", "image/png"} & set(success.get("content", {})):
                continue
            schema = success.get("content", {}).get("application/json", {}).get("schema")
            assert schema, f"{method.upper()} {path} has no response model"
    assert spec["components"]["securitySchemes"]["OAuth2PasswordBearer"]["flows"]["password"]["tokenUrl"] \
        == "/api/v1/users/token"


def test_docs_page_served(client):
    r = client.get("/docs")
    assert r.status_code == 200 and "swagger-ui" in r.text


def test_authorize_flow_as_swagger_does_it(client):
    """Swagger's Authorize posts the OAuth2 form to tokenUrl, then sends the bearer token."""
    register(client, "ann@example.com")
    tokenurl = client.get("/openapi.json").json()["components"]["securitySchemes"]["OAuth2PasswordBearer"][
        "flows"]["password"]["tokenUrl"]
    r = client.post(tokenurl, data={"grant_type": "password", "username": "ann@example.com",
                                    "password": PASSWORD, "scope": ""})
    token = r.json()["access_token"]
    assert client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200
