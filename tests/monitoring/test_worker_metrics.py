"""The worker exporter: tasks run by real Celery workers show up in TASKS / TASK_DURATION on its HTTP port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from celery.contrib.testing.worker import start_worker

from signalhub.core import metrics_celery
from signalhub.core.config import PROJECT_ROOT
from signalhub.worker import celery_app
from tests.monitoring.exposition import parse, value

TASKS = "signalhub_celery_tasks_total"
DURATION_COUNT = "signalhub_celery_task_duration_seconds_count"
PURGE = "signalhub.auth.tasks.purge_expired_refresh_tokens"
FRESHNESS = "signalhub.market_data.tasks.check_freshness"
FLAKY = "tests.monitoring.flaky_once"


@celery_app.task(name=FLAKY, bind=True, max_retries=2)
def flaky_once(self) -> str:
    """Test-only task: asks to be retried on its first run, succeeds on the second."""
    if self.request.retries == 0:
        raise self.retry(countdown=0)
    return "done"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def scrape(port: int) -> dict:
    return parse(httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text)


def test_task_outcomes_and_durations_are_served_by_the_worker_exporter(env):
    port = free_port()
    env.setenv("WORKER_METRICS_PORT", str(port))
    from signalhub.auth.tasks import purge_expired_refresh_tokens
    from signalhub.market_data.tasks import check_freshness

    with start_worker(celery_app, pool="solo", perform_ping_check=False, shutdown_timeout=30):
        assert metrics_celery.exporter_port() == port
        before = scrape(port)
        assert purge_expired_refresh_tokens.delay().get(timeout=60) == 0
        with pytest.raises(Exception, match="NOPE"):
            check_freshness.delay("NOPE").get(timeout=60)  # not an exchange: the task fails
        assert flaky_once.delay().get(timeout=60) == "done"
        after = scrape(port)
    # The exporter stops with the worker.
    assert metrics_celery.exporter_port() is None
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta(TASKS, task=PURGE, state="succeeded") == 1
    assert delta(TASKS, task=FRESHNESS, state="failed") == 1
    assert delta(TASKS, task=FRESHNESS, state="succeeded") == 0
    assert (delta(TASKS, task=FLAKY, state="retried"), delta(TASKS, task=FLAKY, state="succeeded")) == (1, 1)
    # Every run is timed, the failed one and the one that asked for a retry included.
    assert delta(DURATION_COUNT, task=PURGE) == 1
    assert delta(DURATION_COUNT, task=FRESHNESS) == 1
    assert delta(DURATION_COUNT, task=FLAKY) == 2


def test_port_zero_disables_the_exporter(env):
    env.setenv("WORKER_METRICS_PORT", "0")
    with start_worker(celery_app, pool="solo", perform_ping_check=False, shutdown_timeout=30):
        assert metrics_celery.exporter_port() is None


def test_a_taken_port_does_not_stop_the_worker(env):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        env.setenv("WORKER_METRICS_PORT", str(taken.getsockname()[1]))
        from signalhub.auth.tasks import purge_expired_refresh_tokens

        with start_worker(celery_app, pool="solo", perform_ping_check=False, shutdown_timeout=30):
            assert metrics_celery.exporter_port() is None
            assert purge_expired_refresh_tokens.delay().get(timeout=60) == 0


def test_a_prefork_worker_merges_its_pool_processes_metrics(tmp_path: Path):
    """The production set-up: `celery worker` with a prefork pool and PROMETHEUS_MULTIPROC_DIR."""
    port = free_port()
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    environment = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir), "WORKER_METRICS_PORT": str(port),
                   "WORKER_METRICS_HOST": "127.0.0.1"}
    celery = str(Path(sys.executable).parent / "celery")
    worker = subprocess.Popen(
        [celery, "-A", "signalhub.worker", "worker", "--pool", "prefork", "--concurrency", "2",
         "--loglevel", "WARNING", "--without-heartbeat", "--without-gossip", "--without-mingle"],
        cwd=PROJECT_ROOT, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                scrape(port)
                break
            except httpx.HTTPError:
                assert worker.poll() is None, worker.stdout.read().decode() if worker.stdout else ""
                assert time.monotonic() < deadline, "worker exporter did not come up"
                time.sleep(0.3)
        from signalhub.auth.tasks import purge_expired_refresh_tokens

        results = [purge_expired_refresh_tokens.delay() for _ in range(6)]
        assert [r.get(timeout=90) for r in results] == [0] * 6
        after = scrape(port)
        files = {path.name for path in metrics_dir.glob("*.db")}
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
    # A prefork pool runs tasks only in its child processes; the main process's exporter counts all of them.
    assert value(after, TASKS, task=PURGE, state="succeeded") == 6
    assert value(after, DURATION_COUNT, task=PURGE) == 6
    assert any(name.startswith("counter_") and not name.endswith(f"_{worker.pid}.db") for name in files)
