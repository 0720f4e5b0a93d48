"""The worker exporter: Celery signals feed the task metrics, and each worker serves them over HTTP.

The exporter runs inside the worker's main process, as a worker bootstep, on
WORKER_METRICS_HOST:WORKER_METRICS_PORT. With a prefork pool the tasks run in child processes, so their
metrics only reach the exporter through PROMETHEUS_MULTIPROC_DIR (one empty directory per worker service).
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any
from wsgiref.simple_server import WSGIServer

from celery import Celery, bootsteps, signals
from prometheus_client import start_http_server

from signalhub.core import metrics
from signalhub.core.config import get_settings

logger = logging.getLogger(__name__)

# Start times of the tasks running in this process, by task id (prerun and postrun run in the same process).
_started: dict[str, float] = {}
_server: WSGIServer | None = None


def _task_name(sender: Any) -> str:
    return str(getattr(sender, "name", None) or "unknown")


def _on_prerun(task_id: str | None = None, **_: Any) -> None:
    if task_id:
        _started[task_id] = time.perf_counter()


def _on_postrun(sender: Any = None, task_id: str | None = None, state: str | None = None, **_: Any) -> None:
    started = _started.pop(task_id, None) if task_id else None
    name = _task_name(sender)
    if started is not None:
        metrics.TASK_DURATION.labels(task=name).observe(time.perf_counter() - started)
    # Failures and retries are counted by their own signals, which also fire for tasks that never ran here.
    if state == "SUCCESS":
        metrics.TASKS.labels(task=name, state="succeeded").inc()


def _on_retry(sender: Any = None, **_: Any) -> None:
    metrics.TASKS.labels(task=_task_name(sender), state="retried").inc()


def _on_failure(sender: Any = None, **_: Any) -> None:
    metrics.TASKS.labels(task=_task_name(sender), state="failed").inc()


def _on_process_shutdown(pid: int | None = None, **_: Any) -> None:
    # A pool process that exits must stop contributing to the "live" gauges (circuit state, realtime).
    metrics.mark_process_dead(pid or os.getpid())


def _uses_prefork(worker: Any) -> bool:
    pool = getattr(worker, "pool_cls", None)
    name = pool if isinstance(pool, str) else f"{getattr(pool, '__module__', '')}.{getattr(pool, '__name__', '')}"
    return "prefork" in name


def _start_exporter(worker: Any) -> None:
    global _server
    settings = get_settings()
    if settings.worker_metrics_port == 0 or _server is not None:
        return
    if metrics.multiprocess_dir() is None and _uses_prefork(worker):
        logger.warning("PROMETHEUS_MULTIPROC_DIR is not set: task metrics of prefork pool processes will not "
                       "be exported (set it to an empty directory for this worker)")
    try:
        _server, _thread = start_http_server(settings.worker_metrics_port, addr=settings.worker_metrics_host,
                                             registry=metrics.collecting_registry())
    except OSError as exc:
        # Metrics are worth less than running tasks: a taken port must not stop the worker.
        logger.error("worker metrics exporter could not listen", extra={
            "host": settings.worker_metrics_host, "port": settings.worker_metrics_port, "error": str(exc)})
        return
    logger.info("worker metrics exporter listening",
                extra={"host": settings.worker_metrics_host, "port": _server.server_port})


def _stop_exporter() -> None:
    global _server
    if _server is not None:
        _server.shutdown()
        _server.server_close()
        _server = None
    metrics.mark_process_dead(os.getpid())


class MetricsExporterStep(bootsteps.StartStopStep):
    """Worker bootstep: serve the worker's metrics while it runs (WORKER_METRICS_PORT 0 disables)."""

    # Started after the pool, so the processes it forks at start-up do not inherit the listening socket;
    # stopped on warm and cold shutdown alike (the worker_shutdown signal only fires on a warm one).
    requires = ("celery.worker.components:Pool",)

    def start(self, parent: Any) -> None:
        """Start listening."""
        _start_exporter(parent)

    def stop(self, parent: Any) -> None:
        """Stop listening."""
        _stop_exporter()

    def terminate(self, parent: Any) -> None:
        """Stop listening (cold shutdown)."""
        _stop_exporter()


def exporter_port() -> int | None:
    """The port this process's worker exporter listens on, or None when it is not running."""
    return _server.server_port if _server is not None else None


def install(app: Celery) -> None:
    """Connect the task signal handlers and add the exporter to `app`'s workers (idempotent)."""
    for signal, handler in ((signals.task_prerun, _on_prerun), (signals.task_postrun, _on_postrun),
                            (signals.task_retry, _on_retry), (signals.task_failure, _on_failure),
                            (signals.worker_process_shutdown, _on_process_shutdown)):
        signal.connect(handler, weak=False, dispatch_uid=f"signalhub.metrics.{handler.__name__}")
    app.steps["worker"].add(MetricsExporterStep)
