"""Operator commands run as a person would run them."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from typer.testing import CliRunner

from signalhub.cli import app
from tests.helpers import PASSWORD, login, register

BIN = Path(sys.executable).parent


def test_create_admin_creates_and_promotes(client):
    runner = CliRunner()
    result = runner.invoke(app, ["create-admin", "--email", "root@example.com", "--username", "root",
                                 "--password", PASSWORD])
    assert result.exit_code == 0, result.output
    token = login(client, "root@example.com")["access_token"]
    me = client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {token}"}).json()
    assert me["role"] == "admin"

    register(client, "ann@example.com")
    result = runner.invoke(app, ["create-admin", "--email", "ann@example.com", "--username", "ann",
                                 "--password", PASSWORD])
    assert result.exit_code == 0 and "now an admin" in result.output


def test_create_admin_rejects_bad_input():
    result = CliRunner().invoke(app, ["create-admin", "--email", "nope", "--username", "root",
                                      "--password", "short"])
    assert result.exit_code == 2
    assert "email" in result.output and "password" in result.output


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_signalhub_run_starts_api_worker_and_beat_and_stops_on_ctrl_c(tmp_path):
    """What `make run` does, on embedded defaults in a scratch directory."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CELERY_", "REDIS_", "DATABASE_"))}
    env.update(ENVIRONMENT="development", SECRET_KEY="x" * 40,
               DATABASE_URL=f"sqlite:///{tmp_path / 'run.db'}",
               CELERY_BROKER_URL=f"sqla+sqlite:///{tmp_path / 'broker.db'}",
               CELERY_RESULT_BACKEND=f"db+sqlite:///{tmp_path / 'results.db'}")
    model_port = _free_port()
    proc = subprocess.Popen([str(BIN / "signalhub"), "run", "--port", str(port), "--model-port", str(model_port)],
                            env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 180  # the first run also loads the bundled history
        ready = None
        while time.monotonic() < deadline:
            try:
                ready = httpx.get(f"{base}/readyz", timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.5)
        assert ready is not None and ready.status_code == 200, ready and ready.text
        r = httpx.post(f"{base}/api/v1/users/register",
                       json={"email": "ann@example.com", "username": "ann", "password": PASSWORD})
        assert r.status_code == 201
        # The model server runs beside the API, serving the shipped artifact.
        health = None
        for _ in range(60):
            try:
                health = httpx.get(f"http://127.0.0.1:{model_port}/health", timeout=5)
                break
            except httpx.TransportError:
                time.sleep(0.5)
        assert health is not None and health.status_code == 200 and health.json()["loaded"] is True
        # The worker started by `run` takes a task from the embedded broker and stores its result.
        call = ("from signalhub.auth.tasks import purge_expired_refresh_tokens as t; "
                "print('result', t.delay().get(timeout=60))")
        done = subprocess.run([sys.executable, "-c", call], env=env, capture_output=True, text=True,
                              timeout=90)
        assert "result 0" in done.stdout, done.stdout + done.stderr
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        output = proc.communicate(timeout=60)[0].decode()
    assert proc.returncode == 0, output
    children = subprocess.run(["pgrep", "-f", f"--port {port}"], capture_output=True, text=True)
    assert children.stdout.strip() == "", "a process outlived Ctrl-C"


def test_backfill_loads_history_with_progress_and_reports_unknown_tickers(db_session):
    from sqlalchemy import func, select

    from signalhub.models import PriceBar, TechnicalIndicator

    result = CliRunner().invoke(app, ["backfill", "AAPL", "005930.KS", "NOPE", "--start", "2025-01-01",
                                      "--end", "2025-02-01", "--provider", "replay"])
    assert result.exit_code == 1, result.output  # one ticker failed: the exit code says so
    assert "unknown_ticker" in result.output and "3/3" in result.output
    counts = dict(db_session.execute(select(PriceBar.ticker, func.count()).group_by(PriceBar.ticker)).all())
    # January 2025 sessions: NYSE 20 (closed 1, 9 and 20 Jan); KRX 18 (closed 1 Jan and 27-30 Jan, Seollal).
    assert counts == {"AAPL": 20, "005930.KS": 18}
    assert db_session.scalar(select(func.count()).select_from(TechnicalIndicator)) == 38
    bad = CliRunner().invoke(app, ["backfill", "AAPL", "--start", "2025-02-01", "--end", "2025-01-01"])
    assert bad.exit_code == 2 and "--start must be before --end" in bad.output
