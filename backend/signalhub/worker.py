"""The Celery app and its beat schedule."""

from __future__ import annotations

from celery import Celery
from celery.schedules import crontab

from signalhub.core import metrics_celery
from signalhub.core.config import VAR_DIR, get_settings
from signalhub.core.logging import install_celery_context

# Every module holding tasks; beat and workers import them all so names always resolve.
TASK_MODULES = [
    "signalhub.auth.tasks", "signalhub.market_data.tasks", "signalhub.signals.tasks",
    "signalhub.notifications.tasks", "signalhub.ops.tasks", "signalhub.recommendations.tasks",
    "signalhub.simulations.tasks", "signalhub.trading.tasks", "signalhub.broker.kis.tasks",
]

# After-close tasks fire on a 15-minute grid over the UTC hours a close (plus the task's delay) can fall
# in; their calendar guard (signalhub.ops.guards) lets exactly one slot per session through.
_AFTER_CLOSE_HOURS = {"XKRX": "6-10", "XNYS": "17-23"}


def _after_close(task: str, exchange: str) -> dict[str, object]:
    grid = crontab(minute="*/15", hour=_AFTER_CLOSE_HOURS[exchange], day_of_week="mon-fri")
    return {"task": task, "schedule": grid, "args": (exchange,), "options": {"expires": 15 * 60.0}}


def beat_schedule(intraday_poll_seconds: int) -> dict[str, dict[str, object]]:
    """Every periodic task in one place (times in UTC; the tasks check the exchange calendar)."""
    return {
        "purge-expired-refresh-tokens": {
            "task": "signalhub.auth.tasks.purge_expired_refresh_tokens",
            "schedule": crontab(minute=17, hour=3),
        },
        "dispatch-due-deliveries": {
            "task": "signalhub.notifications.tasks.dispatch_due",
            "schedule": 15.0,
            "options": {"expires": 15.0},
        },
        "send-digests": {
            "task": "signalhub.notifications.tasks.send_digests",
            "schedule": 60.0,
            "options": {"expires": 60.0},
        },
        "resolve-predictions": {
            "task": "signalhub.signals.tasks.resolve_predictions",
            "schedule": crontab(minute=45, hour=22),
        },
        # Nightly, after both markets' daily bars are in (New York closes by 21:00 UTC): past signals' returns.
        "evaluate-signal-performance": {
            "task": "signalhub.signals.tasks.evaluate_signal_performance",
            "schedule": crontab(minute=15, hour=23),
        },
        # Per market, after the actual close: bars (close + 30 min: 16:00 KST on a normal KRX day, seed 003),
        # recommendations (+ 90 min: 17:00 KST), daily reports (+ 120 min).
        **{
            f"{name}-{exchange}": _after_close(task, exchange)
            for exchange in ("XKRX", "XNYS")
            for name, task in (("daily-close", "signalhub.market_data.tasks.daily_close_update"),
                               ("recommendations", "signalhub.recommendations.tasks.compute_daily"),
                               ("daily-reports", "signalhub.ops.tasks.send_daily_reports"))
        },
        # Invariants (stale bars, stalled signal evaluation, failing channels) and the admin alerts they raise.
        "check-invariants": {
            "task": "signalhub.ops.tasks.check_invariants",
            "schedule": 60.0,
            "options": {"expires": 60.0},
        },
        **{
            f"poll-intraday-{exchange}": {
                "task": "signalhub.market_data.tasks.poll_intraday",
                "schedule": float(intraday_poll_seconds),
                "args": (exchange,),
                # A poll that waited longer than one period is stale; the next one supersedes it.
                "options": {"expires": float(intraday_poll_seconds)},
            }
            for exchange in ("XKRX", "XNYS")
        },
        # Orders: fills of open orders while a market is open; doubtful submissions and forgotten orders.
        "trading-poll-fills": {
            "task": "signalhub.trading.tasks.poll_fills",
            "schedule": float(get_settings().trading_poll_seconds),
            "options": {"expires": float(get_settings().trading_poll_seconds)},
        },
        "trading-reconcile": {
            "task": "signalhub.trading.tasks.reconcile_all",
            "schedule": float(get_settings().trading_reconcile_seconds),
            "options": {"expires": float(get_settings().trading_reconcile_seconds)},
        },
    }


def create_celery() -> Celery:
    """Build the Celery app from settings (Redis in production, embedded SQLite otherwise)."""
    settings = get_settings()
    if settings.broker_url.startswith("sqla+sqlite") or settings.result_backend.startswith("db+sqlite"):
        VAR_DIR.mkdir(parents=True, exist_ok=True)
    app = Celery("signalhub", broker=settings.broker_url, backend=settings.result_backend,
                 include=TASK_MODULES)
    app.conf.update(
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        timezone="UTC",
        enable_utc=True,
        # Ack after the task ran, and give a task back if its worker dies: tasks are written to be
        # idempotent, so running one twice is safe, losing one is not.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_track_started=True,
        result_expires=7 * 24 * 3600,
        result_extended=True,
        broker_connection_retry_on_startup=True,
        beat_schedule_filename=str(VAR_DIR / "celerybeat-schedule"),
        # Exactly one beat sends: the others wait on a lease (signalhub.ops.beat).
        beat_scheduler="signalhub.ops.beat:LockedScheduler",
        beat_schedule=beat_schedule(settings.intraday_poll_seconds),
    )
    if settings.broker_url.startswith(("redis://", "rediss://")):
        # An unacknowledged task returns to the queue after this long (longest task must be shorter).
        timeout = settings.celery_visibility_timeout
        app.conf.broker_transport_options = {
            "visibility_timeout": timeout,
            # Look for abandoned messages every few seconds, not every 100 s (kombu's 10 s x throttle 10).
            "unacked_restore_interval": max(1, min(10, timeout // 2)),
            "unacked_restore_throttle": 1,
        }
    # Log lines of a task carry the correlation id of the request (or task) that enqueued it.
    install_celery_context()
    # Task metrics from Celery signals, and the worker's own /metrics exporter.
    metrics_celery.install(app)
    return app


celery_app = create_celery()
