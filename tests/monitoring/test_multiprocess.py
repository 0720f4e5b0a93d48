"""Multiprocess mode: separate processes' metrics merge in one exposition; dead processes leave live gauges."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from signalhub.core import metrics
from signalhub.core.config import PROJECT_ROOT
from tests.monitoring.exposition import parse, value

CHILD = """
import os, sys
from signalhub.core import metrics
metrics.TASKS.labels(task="t", state="succeeded").inc(int(sys.argv[1]))
metrics.set_circuit_state("model-server", sys.argv[2])
metrics.DATA_AGE.labels(exchange="XNYS").set(float(sys.argv[3]))
print(os.getpid())
"""


def run_child(directory: Path, *args: str) -> int:
    out = subprocess.run([sys.executable, "-c", CHILD, *args], cwd=PROJECT_ROOT, check=True, capture_output=True,
                         text=True, env={**os.environ, metrics.MULTIPROC_ENV: str(directory)})
    return int(out.stdout.strip())


def test_processes_merge_and_dead_ones_drop_out_of_live_gauges(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    directory = tmp_path / "metrics"
    directory.mkdir()
    (directory / "counter_99999.db").write_bytes(b"left over from a previous run")
    metrics.reset_multiprocess_dir(directory)
    assert list(directory.iterdir()) == []

    first = run_child(directory, "2", "open", "120")
    second = run_child(directory, "3", "closed", "60")  # the most recent freshness check wins
    monkeypatch.setenv(metrics.MULTIPROC_ENV, str(directory))
    body, _ = metrics.render_latest()
    samples = parse(body.decode())
    assert value(samples, "signalhub_celery_tasks_total", task="t", state="succeeded") == 5
    assert value(samples, "signalhub_data_age_seconds", exchange="XNYS") == 60
    # The worst breaker among processes still counted is open...
    assert value(samples, "signalhub_circuit_state", name="model-server") == 2
    # ...until the process that saw it open is marked dead (Celery's worker_process_shutdown does this).
    metrics.mark_process_dead(first)
    samples = parse(metrics.render_latest()[0].decode())
    assert value(samples, "signalhub_circuit_state", name="model-server") == 0
    # Counters of dead processes still count: a task that ran, ran.
    assert value(samples, "signalhub_celery_tasks_total", task="t", state="succeeded") == 5
    assert second != first
