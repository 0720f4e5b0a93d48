"""The API's /metrics: valid exposition, route templates and statuses as labels, auth and on/off settings."""

from __future__ import annotations

from fastapi.testclient import TestClient
from prometheus_client import CONTENT_TYPE_LATEST

from signalhub.core.metrics_http import UNMATCHED
from signalhub.main import create_app
from tests.helpers import auth_headers
from tests.monitoring.exposition import parse, value

REQUESTS = "signalhub_http_requests_total"
LATENCY = "signalhub_http_request_duration_seconds"


def scrape(client: TestClient) -> dict:
    response = client.get("/metrics")
    assert response.status_code == 200, response.text
    # The text exposition format (not OpenMetrics, not JSON).
    assert response.headers["content-type"] == CONTENT_TYPE_LATEST
    assert CONTENT_TYPE_LATEST.startswith("text/plain; version=")
    return parse(response.text)


def test_real_requests_are_counted_by_route_template_and_status(client):
    headers = auth_headers(client, "ann@example.com")
    before = scrape(client)
    for signal_id in (101, 102, 103):  # three ids, one route template
        assert client.get(f"/api/v1/signals/{signal_id}", headers=headers).status_code == 404
    assert client.get("/api/v1/signals/7").status_code == 401
    assert client.get("/api/v1/users/me", headers=headers).status_code == 200
    assert client.get("/no/such/page/42").status_code == 404
    assert client.patch("/api/v1/users/me", headers=headers, json={"timezone": "Mars/Olympus"}).status_code == 422
    assert client.put("/api/v1/users/me", headers=headers, json={}).status_code == 405
    after = scrape(client)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    route = "/api/v1/signals/{signal_id}"
    assert delta(REQUESTS, method="GET", route=route, status="404") == 3
    assert delta(REQUESTS, method="GET", route=route, status="401") == 1
    assert delta(REQUESTS, method="GET", route="/api/v1/users/me", status="200") == 1
    assert delta(REQUESTS, method="GET", route=UNMATCHED, status="404") == 1
    assert delta(REQUESTS, method="PATCH", route="/api/v1/users/me", status="422") == 1
    assert delta(REQUESTS, method="PUT", route="/api/v1/users/me", status="405") == 1
    # Raw paths never become label values: the id-bearing URLs left no series of their own.
    routes = {s.labels["route"] for s in after[REQUESTS]}
    assert not any(r.startswith("/api/v1/signals/") and r != route and "{" not in r for r in routes)
    assert not any("42" in r or "101" in r for r in routes)
    # The latency histogram saw the same requests, with cumulative buckets ending in +Inf.
    assert delta(f"{LATENCY}_count", method="GET", route=route) == 4  # the 404s and the 401
    buckets = [s for s in after[f"{LATENCY}_bucket"] if s.labels["route"] == route and s.labels["method"] == "GET"]
    assert buckets[-1].labels["le"] == "+Inf" and buckets[-1].value == value(after, f"{LATENCY}_count",
                                                                              method="GET", route=route)
    assert [b.value for b in buckets] == sorted(b.value for b in buckets)
    assert value(after, f"{LATENCY}_sum", method="GET", route=route) > 0


def test_every_agreed_metric_family_is_exposed_with_its_type(client):
    families = {}
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(client.get("/metrics").text):
        families[family.name] = family.type
    expected = {
        "signalhub_http_requests": "counter", "signalhub_http_request_duration_seconds": "histogram",
        "signalhub_celery_tasks": "counter", "signalhub_celery_task_duration_seconds": "histogram",
        "signalhub_bars_ingested": "counter", "signalhub_data_age_seconds": "gauge",
        "signalhub_signals": "counter", "signalhub_signal_evaluations": "counter",
        "signalhub_notifications": "counter", "signalhub_orders": "counter",
        "signalhub_broker_request_duration_seconds": "histogram", "signalhub_risk_events": "counter",
        "signalhub_model_requests": "counter", "signalhub_model_request_duration_seconds": "histogram",
        "signalhub_circuit_state": "gauge", "signalhub_kis_rate_limit_wait_seconds": "histogram",
        "signalhub_kis_token_issuances": "counter", "signalhub_kis_errors": "counter",
        "signalhub_realtime_connected": "gauge", "signalhub_realtime_fallback_active": "gauge",
        "signalhub_realtime_ticks": "counter", "signalhub_invariant_violations": "counter",
        "signalhub_invariant_failing": "gauge",
    }
    assert {name: families.get(name) for name in expected} == expected


def test_an_unhandled_error_is_counted_as_500_under_its_route():
    app = create_app()

    @app.get("/boom/{item}")
    def boom(item: str) -> None:
        raise RuntimeError(f"exploded on {item}")

    with TestClient(app, raise_server_exceptions=False) as client:
        before = parse(client.get("/metrics").text)
        assert client.get("/boom/1").status_code == 500
        after = parse(client.get("/metrics").text)
    labels = {"method": "GET", "route": "/boom/{item}", "status": "500"}
    assert value(after, REQUESTS, **labels) - value(before, REQUESTS, **labels) == 1


def test_metrics_is_not_in_the_openapi_schema(client):
    assert "/metrics" not in client.get("/openapi.json").json()["paths"]


def test_a_metrics_token_is_required_when_configured(env):
    env.setenv("METRICS_TOKEN", "scrape-secret-1234")
    with TestClient(create_app()) as client:
        missing = client.get("/metrics")
        wrong = client.get("/metrics", headers={"Authorization": "Bearer nope"})
        right = client.get("/metrics", headers={"Authorization": "Bearer scrape-secret-1234"})
    assert missing.status_code == 401 and wrong.status_code == 401
    assert missing.json()["error"]["code"] == "not_authenticated"
    assert missing.headers["www-authenticate"] == "Bearer"
    assert right.status_code == 200 and "signalhub_http_requests_total" in right.text


def test_metrics_can_be_switched_off(env):
    env.setenv("METRICS_ENABLED", "false")
    with TestClient(create_app()) as client:
        assert client.get("/metrics").status_code == 404
