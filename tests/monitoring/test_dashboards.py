"""The provisioned Grafana dashboards: every SQL query runs on PostgreSQL with demo data and returns the
columns its panel expects; every PromQL query names only metrics (and labels) the code exports."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select, text

from signalhub.core import metrics
from signalhub.core.circuit import CircuitBreaker
from signalhub.core.config import PROJECT_ROOT, get_settings
from signalhub.core.db import get_engine, session_scope
from signalhub.market_data import service as market_service
from signalhub.market_data.providers import get_provider
from signalhub.models import Prediction, Signal, TechnicalIndicator, User
from signalhub.portfolios import service as portfolio_service
from signalhub.signals.model_client import ModelClient
from signalhub.signals.pipeline import ingest

PROVISIONING = PROJECT_ROOT / "monitoring" / "grafana" / "provisioning"
DASHBOARDS = sorted((PROVISIONING / "dashboards").glob("*.json"))
TICKERS = ["AAPL", "MSFT", "005930.KS"]
FROM, TO = datetime(2024, 10, 1, tzinfo=UTC), datetime(2025, 4, 12, tzinfo=UTC)
# Series Prometheus itself adds to every scrape; not exported by the code.
PROMETHEUS_SYNTHETIC = {"up": {"job", "instance"}}


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def panels(board: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for panel in board["panels"]:
        found.extend(panel.get("panels", []) if panel["type"] == "row" else [panel])
    return found


def targets(kind: str) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(dashboard file, panel, target) for every target on a datasource of `kind`."""
    found = []
    for path in DASHBOARDS:
        for panel in panels(load(path)):
            for target in panel.get("targets", []):
                if (target.get("datasource") or panel["datasource"])["type"] == kind:
                    found.append((path.name, panel, target))
    return found


def test_dashboards_are_provisioned_with_stable_ids_and_known_datasources():
    assert {p.name for p in DASHBOARDS} == {"market.json", "portfolio.json", "system.json"}
    provider = yaml.safe_load((PROVISIONING / "dashboards" / "dashboards.yml").read_text())["providers"][0]
    assert provider["type"] == "file" and provider["options"]["path"] == "/etc/grafana/provisioning/dashboards"
    sources = yaml.safe_load((PROVISIONING / "datasources" / "datasources.yml").read_text())["datasources"]
    uids = {s["uid"]: s["type"] for s in sources}
    assert uids == {"signalhub-prometheus": "prometheus", "signalhub-postgres": "grafana-postgresql-datasource"}
    boards = [load(p) for p in DASHBOARDS]
    assert len({b["uid"] for b in boards}) == len(boards)
    for board in boards:
        ids = [p["id"] for p in board["panels"]]
        assert len(ids) == len(set(ids)), board["uid"]
        for panel in panels(board):
            for target in panel["targets"]:
                source = target.get("datasource") or panel["datasource"]
                assert uids[source["uid"]] == source["type"], (board["uid"], panel["title"])


# ------------------------------------------------------------------------------------------------ PromQL
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
_MATCHERS = re.compile(r"\{([^}]*)\}")
_IDENT = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless",
             "offset", "inf", "nan"}


def promql_names(expr: str) -> tuple[set[str], set[str]]:
    """(metric names, label names) used in a PromQL expression, after Grafana variables are removed."""
    expr = re.sub(r"\$\{?__\w+\}?", "5m", expr)  # $__rate_interval, $__interval, ...
    labels: set[str] = set()
    for match in _MATCHERS.finditer(_STRING.sub('""', expr)):
        labels |= {m.group(1) for m in re.finditer(r"([A-Za-z_]\w*)\s*(?:=~|!~|!=|=)", match.group(1))}
    expr = _MATCHERS.sub(" ", _STRING.sub('""', expr))
    for match in _GROUPING.finditer(expr):
        labels |= {name.strip() for name in match.group(2).split(",") if name.strip()}
    expr = _GROUPING.sub(" ", expr)
    expr = re.sub(r"\[[^\]]*\]", " ", expr)  # range selectors
    expr = re.sub(r"\b\d+(?:\.\d+)?(?:e[+-]?\d+)?[a-z]*\b", " ", expr)  # numbers and durations (offset 5m)
    names = set()
    for match in _IDENT.finditer(expr):
        following = expr[match.end():].lstrip()[:1]
        word = match.group(0)
        if following != "(" and word.lower() not in _KEYWORDS and not re.fullmatch(r"\d", word[0]):
            names.add(word)
    return names, labels


def exported_series() -> dict[str, set[str]]:
    """Every sample name the code can export (suffix forms included), with its label names."""
    series: dict[str, set[str]] = {}
    for family in metrics.REGISTRY.collect():
        if not family.name.startswith("signalhub_"):
            continue
        collector = metrics.REGISTRY._names_to_collectors[family.name if family.type != "counter"
                                                          else family.name + "_total"]
        label_names = set(getattr(collector, "_labelnames", ()))
        for suffix in ("", "_total", "_bucket", "_sum", "_count"):
            series[family.name + suffix] = label_names | ({"le"} if suffix == "_bucket" else set())
    return series


def test_promql_parser_finds_metrics_and_labels():
    names, labels = promql_names('histogram_quantile(0.95, sum by (le, task) (rate(x_bucket{a="b",c=~"d|e"}'
                                 '[$__rate_interval]))) / on(job) group_left up offset 5m')
    assert names == {"x_bucket", "up"} and labels == {"le", "task", "a", "c", "job"}


def test_every_prometheus_query_refers_only_to_exported_metrics_and_labels():
    exported = exported_series()
    known = {**exported, **PROMETHEUS_SYNTHETIC}
    prom_targets = targets("prometheus")
    assert len(prom_targets) >= 20
    used: set[str] = set()
    for board, panel, target in prom_targets:
        names, labels = promql_names(target["expr"])
        where = f"{board} / {panel['title']} / {target['refId']}: {target['expr']}"
        assert names, where
        assert names <= set(known), f"{where}: unknown metrics {names - set(known)}"
        available = set().union(*(known[n] for n in names)) | {"job", "instance"}
        assert labels <= available, f"{where}: unknown labels {labels - available}"
        used |= names
    # The system dashboard covers what the operations issue asks to see.
    for needed in ("signalhub_celery_tasks_total", "signalhub_notifications_total", "signalhub_data_age_seconds",
                   "signalhub_broker_request_duration_seconds_bucket", "signalhub_circuit_state",
                   "signalhub_kis_rate_limit_wait_seconds_bucket", "signalhub_http_requests_total"):
        assert needed in used, needed


# ------------------------------------------------------------------------------------------------ SQL
def expected_columns(panel: dict[str, Any]) -> list[str] | None:
    """The columns a panel declares through its `organize` transformation (Grafana's column order)."""
    for transformation in panel.get("transformations", []):
        if transformation["id"] == "organize":
            order = transformation["options"]["indexByName"]
            return sorted(order, key=order.__getitem__)
    return None


def substitute(sql: str, variables: dict[str, str]) -> str:
    """Expand the Grafana macros and dashboard variables the way Grafana's PostgreSQL datasource does."""
    sql = re.sub(r"\$__timeFilter\(([^)]+)\)",
                 lambda m: f"{m.group(1)} BETWEEN '{FROM.isoformat()}' AND '{TO.isoformat()}'", sql)
    sql = sql.replace("$__timeFrom()", f"'{FROM.isoformat()}'").replace("$__timeTo()", f"'{TO.isoformat()}'")
    sql = re.sub(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)", lambda m: variables[m.group(1) or m.group(2)], sql)
    assert "$" not in sql, sql
    return sql


def demo_data() -> dict[str, Any]:
    """Real bundled history through the platform's own pipeline, signals graded by the real model server,
    and one user's ledger recorded through the portfolio service."""
    from model_server.model import DEFAULT_ARTIFACT_DIR
    from tests.model_server.conftest import serve

    with session_scope() as session:
        market_service.update_prices(session, get_provider("replay"), TICKERS, "1d",
                                     datetime(2022, 1, 1, tzinfo=UTC), datetime(2025, 3, 1, tzinfo=UTC))
    with serve(DEFAULT_ARTIFACT_DIR) as http:
        model = ModelClient(str(http.base_url).rstrip("/"), 10.0, 1, CircuitBreaker("model-server", 3, 30))
        try:
            with session_scope() as session:
                result = ingest(session, get_provider("replay"), TICKERS, "1d", model, end=TO)
        finally:
            model.close()
    assert result.signals.signal_ids, "demo data should include signals"
    with session_scope() as session:
        user = User(email="ann@example.com", username="ann", password_hash="x")
        session.add(user)
        session.flush()
        trades = [("AAPL", "BUY", "10", "220.50", "1.00", date(2025, 3, 3)),
                  ("AAPL", "BUY", "5", "210.00", "1.00", date(2025, 3, 10)),
                  ("AAPL", "SELL", "6", "215.00", "1.00", date(2025, 3, 20)),
                  ("MSFT", "BUY", "3", "390.00", "0.50", date(2025, 3, 5)),
                  ("MSFT", "SELL", "3", "400.00", "0.50", date(2025, 3, 25)),  # closed again
                  ("MSFT", "BUY", "2", "380.00", "0", date(2025, 4, 1)),
                  ("005930.KS", "BUY", "20", "54000", "150", date(2025, 3, 4))]
        for ticker, side, qty, price, fees, day in trades:
            portfolio_service.record_trade(
                session, user.id, ticker=ticker, side=side, quantity=Decimal(qty), price=Decimal(price),
                fees=Decimal(fees), executed_at=datetime(day.year, day.month, day.day, 15, tzinfo=UTC),
                source="manual")
        portfolio_service.record_trade(
            session, user.id, ticker="AAPL", side="BUY", quantity=Decimal("1"), price=Decimal("200"),
            fees=Decimal("0"), executed_at=datetime(2025, 3, 6, 15, tzinfo=UTC), source="paper")
        return {"user_id": user.id}


@pytest.mark.skipif(not get_settings().database_url.startswith("postgresql"),
                    reason="the dashboards query PostgreSQL (Grafana's datasource); run with DATABASE_URL on PG")
def test_every_sql_panel_runs_on_postgres_with_demo_data_and_returns_its_columns(db_session):
    demo = demo_data()
    values = {"ticker": ",".join(f"'{t}'" for t in TICKERS), "user": str(demo["user_id"]),
              "source": "'manual','paper','kis_paper','kis_real'", "currency": "USD"}
    results: dict[tuple[str, str], tuple[list[str], list[Any]]] = {}
    with get_engine().connect() as conn:
        for path in DASHBOARDS:
            board = load(path)
            for variable in board["templating"]["list"]:
                assert variable["name"] in values, f"{path.name}: no demo value for ${variable['name']}"
                if variable["type"] == "query":
                    rows = conn.execute(text(variable["query"])).mappings().all()
                    assert rows and set(rows[0]) == {"__value", "__text"}, (path.name, variable["name"])
        for board_name, panel, target in targets("grafana-postgresql-datasource"):
            where = f"{board_name} / {panel['title']}"
            result = conn.execute(text(substitute(target["rawSql"], values)))
            columns, rows = list(result.keys()), result.all()
            assert rows, f"{where}: no rows with the demo data"
            results[(board_name, panel["title"])] = (columns, rows)
            if target["format"] == "time_series":
                # Grafana's time-series format: a `time` column, an optional text `metric`, numeric values.
                assert columns[0] == "time" and "metric" in columns, where
                first = rows[0]._mapping
                assert isinstance(first["time"], datetime) and isinstance(first["metric"], str), where
                assert all(isinstance(first[c], float | int | Decimal) for c in columns if c not in
                           ("time", "metric")), where
                assert [r.time for r in rows] == sorted(r.time for r in rows), f"{where}: not sorted by time"
            else:
                assert expected_columns(panel) == columns, where
            for override in panel["fieldConfig"]["overrides"]:
                if override["matcher"]["id"] == "byName":
                    assert override["matcher"]["options"] in columns, f"{where}: override on a missing column"
            field_regex = panel.get("options", {}).get("reduceOptions", {}).get("fields")
            if field_regex:
                assert [c for c in columns if re.fullmatch(field_regex.strip("/"), c)], where

    # The figures are right, not just shaped right: cross-check with the platform's own computations.
    columns, rows = results[("portfolio.json", "Positions (average cost, P&L)")]
    table = {(r.ticker, r.source): r._mapping for r in rows}
    with session_scope() as session:
        expected = [p for p in portfolio_service.positions(session, demo["user_id"]) if p.closed_at is None]
        closes = portfolio_service.latest_closes(session, [p.ticker for p in expected])
    assert set(table) == {(p.ticker, p.source) for p in expected} == {
        ("AAPL", "manual"), ("AAPL", "paper"), ("MSFT", "manual"), ("005930.KS", "manual")}
    for position in expected:
        row = table[(position.ticker, position.source)]
        assert row["quantity"] == position.quantity
        assert row["average_cost"] == round(position.average_cost, 4)
        value = position.quantity * Decimal(str(closes[position.ticker].price))
        assert abs(row["market_value"] - value) < Decimal("0.01")
        assert abs(row["unrealised_pnl"] - (value - position.cost_basis)) < Decimal("0.01")
    # Average cost (10 x 220.50 + 1 + 5 x 210 + 1) / 15 = 217.1333..; 6 sold at 215 with 1 fee.
    assert table[("AAPL", "manual")]["realised_pnl"] == Decimal("-13.80")
    _, pie = results[("portfolio.json", "Allocation ($currency)")]
    assert {r.ticker for r in pie} == {"AAPL", "MSFT"}  # USD only; the paper and manual AAPL lots together
    assert pie[0].market_value == table[("AAPL", "manual")]["market_value"] + table[("AAPL", "paper")][
        "market_value"]

    _, gauges = results[("market.json", "RSI (14, daily)")]
    latest = {}
    for ticker in TICKERS:
        latest[ticker] = db_session.scalars(
            select(TechnicalIndicator.rsi_14).where(TechnicalIndicator.ticker == ticker,
                                                    TechnicalIndicator.interval == "1d",
                                                    TechnicalIndicator.rsi_14.is_not(None),
                                                    TechnicalIndicator.ts <= TO)
            .order_by(TechnicalIndicator.ts.desc()).limit(1)).one()
    assert {r.ticker: r.rsi for r in gauges} == latest

    _, recommendations = results[("market.json", "AI recommendations (by confidence)")]
    confidences = [r.confidence for r in recommendations]
    assert confidences == sorted(confidences, reverse=True)
    graded = db_session.scalar(select(Signal).where(Signal.model_version.is_not(None)).limit(1))
    assert graded is not None and db_session.scalar(select(Prediction.id).limit(1)) is not None
    assert any(r.outcome != "no model" and r.predicted_return_pct is not None for r in recommendations)
