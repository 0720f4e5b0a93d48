"""Benchmark: the whole signal pipeline for the 501-ticker file, one new daily bar per ticker.

From provider bars to stored signals (store bars -> indicators -> strategies -> model server over HTTP ->
grading -> stored signals), on SQLite and on PostgreSQL, against the 2 s target on PostgreSQL.

Set-up (not timed): a fresh, migrated database holding each ticker's last 420 bars before the held-back
days, and the real model server (shipped artifact) on loopback. Then each of the last DAYS sessions is
fed as "the new bar", one pipeline run per session, each committed as the beat task would.

    .venv/bin/python benchmarks/pipeline.py [--days 3] [--backend sqlite|postgresql|both]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import pandas as pd
import uvicorn

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "benchmarks" / "data" / "sp500_daily_2018-01-02_2023-06-29.csv.gz"
PG_ADMIN_URL = os.environ.get("BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
HISTORY_BARS = 420
TARGET_SECONDS = 2.0


class HeldBackProvider:
    """Serves one held-back session's bar per ticker, as a provider would after the close."""

    name = "bench"

    def __init__(self, day: pd.DataFrame) -> None:
        self._day = {t: g.drop(columns="ticker").reset_index(drop=True) for t, g in day.groupby("ticker")}

    def fetch_bars(self, tickers: Sequence[str], interval: str, start: datetime | None,
                   end: datetime | None) -> dict:
        from signalhub.market_data.providers.base import FetchResult, FetchStatus

        return {t: FetchResult(t, interval, FetchStatus.OK, self._day[t], meta={"name": t}) for t in tickers}


def start_model_server() -> tuple[str, uvicorn.Server]:
    """The real model server with the shipped artifact, on an ephemeral loopback port."""
    from model_server.main import create_app

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(create_app(), log_level="warning", lifespan="off"))
    threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True).start()
    while not server.started:
        time.sleep(0.02)
    return f"http://127.0.0.1:{sock.getsockname()[1]}", server


def database_url(backend: str) -> str:
    """A fresh empty database of the given kind."""
    if backend == "sqlite":
        return f"sqlite:///{tempfile.mkdtemp(prefix='signalhub-bench-')}/bench.db"
    from sqlalchemy import create_engine, make_url, text

    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text('DROP DATABASE IF EXISTS "signalhub_bench" WITH (FORCE)'))
        conn.execute(text('CREATE DATABASE "signalhub_bench"'))
    admin.dispose()
    return make_url(PG_ADMIN_URL).set(database="signalhub_bench").render_as_string(hide_password=False)


def run_backend(backend: str, frame: pd.DataFrame, days: list[pd.Timestamp], model_url: str) -> list[dict]:
    """Prepare one backend, then time one pipeline run per held-back day."""
    os.environ["DATABASE_URL"] = database_url(backend)
    os.environ["MODEL_SERVER_URL"] = model_url
    from signalhub.core.config import get_settings
    from signalhub.core.db import get_engine, get_sessionmaker, session_scope

    for cached in (get_settings, get_engine, get_sessionmaker):
        cached.cache_clear()
    from alembic import command
    from alembic.config import Config

    command.upgrade(Config(str(ROOT / "alembic.ini")), "head")
    from signalhub.indicators.service import refresh_indicators
    from signalhub.market_data import repository
    from signalhub.signals import pipeline
    from signalhub.signals.model_client import get_model_client

    tickers = sorted(frame["ticker"].unique())
    history = frame[frame["ts"] < days[0]].groupby("ticker").tail(HISTORY_BARS)
    started = time.perf_counter()
    with session_scope() as session:
        repository.upsert_stocks(session, [{"ticker": t, "name": t, "exchange": "XNYS", "currency": "USD"}
                                           for t in tickers])
        repository.upsert_bars(session, history, "1d", "bench")
        refresh_indicators(session, tickers, "1d", new_bars=10)
    print(f"  [{backend}] set-up: {len(history):,} bars of history loaded in {time.perf_counter() - started:.1f} s")

    runs = []
    for day in days:
        provider = HeldBackProvider(frame[frame["ts"] == day])
        model = get_model_client()
        started = time.perf_counter()
        with session_scope() as session:
            result = pipeline.ingest(session, provider, tickers, "1d", model)
        wall = time.perf_counter() - started
        model.close()
        runs.append({"day": day.date(), "wall": wall, "timings": result.signals.timings,
                     "signals": len(result.signals.signal_ids), "model": result.signals.model_status})
    get_engine().dispose()
    return runs


def report(backend: str, runs: list[dict]) -> float:
    """Print each run with its stage shares; return the median wall time."""
    stages = ["fetch", "store_bars", "indicators", "strategies", "transitions", "model", "storage"]
    for run in runs:
        t = run["timings"]
        accounted = sum(t.get(s, 0.0) for s in stages)
        shares = "  ".join(f"{s} {t.get(s, 0.0):.3f}s ({100 * t.get(s, 0.0) / run['wall']:.0f}%)" for s in stages)
        print(f"  [{backend}] {run['day']}: wall {run['wall']:.3f} s, {run['signals']} new signals, model "
              f"{run['model']}\n      {shares}  commit+other {run['wall'] - accounted:.3f}s")
    median = statistics.median(r["wall"] for r in runs)
    print(f"  [{backend}] median wall {median:.3f} s for 501 tickers = {median / TARGET_SECONDS:.2f}x the "
          f"{TARGET_SECONDS:.0f} s target")
    return median


def main() -> int:
    """Run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    args = parser.parse_args()
    frame = pd.read_csv(DATA, parse_dates=["date"]).rename(columns={"date": "ts"})
    frame["ts"] = frame["ts"].dt.tz_localize("UTC")
    frame = frame.sort_values(["ticker", "ts"], ignore_index=True)
    days = sorted(frame["ts"].unique())[-args.days:]
    model_url, server = start_model_server()
    print(f"pipeline benchmark: {frame['ticker'].nunique()} tickers, {args.days} new daily bars fed one at a time, "
          f"model server {model_url}")
    medians = {}
    for backend in (["sqlite", "postgresql"] if args.backend == "both" else [args.backend]):
        medians[backend] = report(backend, run_backend(backend, frame, [pd.Timestamp(d) for d in days], model_url))
    server.should_exit = True
    if "postgresql" in medians:
        print(f"result: PostgreSQL median {medians['postgresql']:.3f} s (target < {TARGET_SECONDS:.0f} s: "
              f"{'met' if medians['postgresql'] < TARGET_SECONDS else 'NOT met'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
