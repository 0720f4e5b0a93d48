"""The Celery app and its beat schedule."""

from __future__ import annotations

from celery import Celery
from celery.schedules import crontab

from signalhub.core.config import VAR_DIR, get_settings

# Every module holding tasks; beat and workers import them all so names always resolve.
TASK_MODULES = [
    "signalhub.auth.tasks", "signalhub.market_data.tasks", "signalhub.signals.tasks",
    "signalhub.notifications.tasks",
]


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
        # 16:00 KST (Korea keeps no daylight saving), after the 15:30 close.
        "daily-close-XKRX": {
            "task": "signalhub.market_data.tasks.daily_close_update",
            "schedule": crontab(minute=0, hour=7, day_of_week="mon-fri"),
            "args": ("XKRX",),
        },
        # 21:30 UTC is after the 16:00 New York close in both EST (21:00 UTC) and EDT (20:00 UTC).
        "daily-close-XNYS": {
            "task": "signalhub.market_data.tasks.daily_close_update",
            "schedule": crontab(minute=30, hour=21, day_of_week="mon-fri"),
            "args": ("XNYS",),
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
        **{
            f"check-freshness-{exchange}": {
                "task": "signalhub.market_data.tasks.check_freshness",
                "schedule": 300.0,
                "args": (exchange,),
                "options": {"expires": 300.0},
            }
            for exchange in ("XKRX", "XNYS")
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
    return app


celery_app = create_celery()
