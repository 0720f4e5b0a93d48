"""Benchmark: one signal fanned out to 10,000 webhook subscribers by real Celery workers.

Each subscriber has its own webhook channel (own signing secret) pointing at a local receiver (uvicorn, a
separate process, which notes when each delivery id first arrives). Each round stores a new signal and times
the fan-out task (rows created per second: notifications + deliveries), the sending (deliveries per second at
the receiver, from its first to its last webhook of the round) and the whole (queued to all marked sent), with
the CPU seconds each process group used; it prints the medians and the ratio to 784 events/s, the event rate a
comparable trading system reports.

    .venv/bin/python benchmarks/fanout.py [--subscribers 10000] [--workers 2] [--concurrency 2] [--rounds 3]

Uses DATABASE_URL / REDIS_URL when set (CI: PostgreSQL + Redis); otherwise BENCH_PG_URL + BENCH_REDIS_URL
defaults on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PG_ADMIN_URL = os.environ.get("BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
REFERENCE_EVENTS_PER_SECOND = 784
TARGET_DELIVERIES_PER_SECOND = 5000

RECEIVER = textwrap.dedent('''
    import json
    import time
    from urllib.parse import parse_qs
    arrivals = {}  # delivery id (from the webhook-id header "dlv_<id>") -> first arrival, wall clock
    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        while True:
            message = await receive()
            if not message.get("more_body"):
                break
        if scope["method"] == "GET":  # /stats?lo=&hi=: arrivals of the deliveries with ids in [lo, hi]
            query = {k: int(v[0]) for k, v in parse_qs(scope["query_string"].decode()).items()}
            times = [t for d, t in arrivals.items() if query["lo"] <= d <= query["hi"]]
            body = json.dumps({"count": len(times), "first": min(times, default=0), "last": max(times, default=0)})
        else:
            webhook_id = dict(scope["headers"]).get(b"webhook-id", b"")
            if webhook_id.startswith(b"dlv_"):
                arrivals.setdefault(int(webhook_id[4:]), time.time())
            body = "ok"
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body.encode()})
''')


def free_port() -> int:
    """An unused loopback port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cpu_seconds(groups: dict[str, set[int]]) -> dict[str, float]:
    """CPU seconds (user + system) used so far by every live process of each group (process groups, or names)."""
    ticks = os.sysconf("SC_CLK_TCK")
    used = dict.fromkeys(groups, 0.0)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        pgid, cpu = int(fields[2]), (int(fields[11]) + int(fields[12])) / ticks
        for group, members in groups.items():
            if pgid in members or name in members:
                used[group] += cpu
    return used


def fresh_database() -> str:
    """A new empty PostgreSQL database for the run."""
    from sqlalchemy import create_engine, make_url, text

    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text('DROP DATABASE IF EXISTS "signalhub_fanout" WITH (FORCE)'))
        conn.execute(text('CREATE DATABASE "signalhub_fanout"'))
    admin.dispose()
    return make_url(PG_ADMIN_URL).set(database="signalhub_fanout").render_as_string(hide_password=False)


def main() -> int:
    """Run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2, help="worker processes")
    parser.add_argument("--concurrency", type=int, default=2, help="prefork children per worker")
    parser.add_argument("--rounds", type=int, default=3, help="signals fanned out one after another")
    parser.add_argument("--chunk-size", type=int, default=500, help="deliveries per send task")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="signalhub-fanout-"))
    env = {**os.environ, "DATABASE_URL": os.environ.get("DATABASE_URL") or fresh_database(),
           "REDIS_URL": os.environ.get("REDIS_URL") or REDIS_URL, "ENVIRONMENT": "development",
           "SECRET_KEY": "bench-" + "x" * 40, "DELIVERY_CHUNK_SIZE": str(args.chunk_size),
           # One receiver stands for 10,000 subscribers' endpoints: no per-destination limit applies to it.
           "DELIVERY_RATE_PER_DESTINATION": "1000000",
           "LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "WARNING"),
           "ALLOW_LOOPBACK_DESTINATIONS": "true"}  # the receiver is local
    env.pop("CELERY_BROKER_URL", None)
    env.pop("CELERY_RESULT_BACKEND", None)
    os.environ.update(env)

    import httpx
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import func, select

    command.upgrade(Config(str(ROOT / "alembic.ini")), "head")
    from signalhub.core.crypto import encrypt_json
    from signalhub.core.db import session_scope
    from signalhub.core.ratelimit import get_redis
    from signalhub.core.time import utcnow
    from signalhub.models import (
        AlertRule,
        Notification,
        NotificationChannel,
        NotificationDelivery,
        Signal,
        Stock,
        User,
    )
    from signalhub.notifications.channels.webhook import generate_webhook_secret

    get_redis().flushdb()
    port = free_port()
    (work / "receiver.py").write_text(RECEIVER)
    receiver = subprocess.Popen([str(BIN / "uvicorn"), "receiver:app", "--port", str(port), "--log-level",
                                 "warning", "--no-access-log"], cwd=work, env=env, start_new_session=True)
    started = time.perf_counter()
    with session_scope() as session:
        session.add(Stock(ticker="AAPL", name="Apple Inc.", exchange="XNYS", currency="USD"))
        users = [User(email=f"u{i}@example.com", username=f"u{i}", password_hash="x", timezone="UTC")
                 for i in range(args.subscribers)]
        session.add_all(users)
        session.flush()
        channels = [NotificationChannel(user_id=u.id, kind="webhook", name="hook", destination_hint="local",
                                        config_encrypted=encrypt_json({"url": f"http://127.0.0.1:{port}/hook/{u.id}",
                                                                       "secret": generate_webhook_secret()}))
                    for u in users]
        session.add_all(channels)
        session.flush()
        session.add_all([AlertRule(user_id=u.id, name="aapl", tickers=["AAPL"], min_grade="HOLD", in_app=False,
                                   channel_ids=[c.id]) for u, c in zip(users, channels, strict=True)])
    print(f"set-up: {args.subscribers:,} subscribers with their own webhook in {time.perf_counter() - started:.1f} s")

    workers = [subprocess.Popen([str(BIN / "celery"), "-A", "signalhub.worker", "worker", "--concurrency",
                                 str(args.concurrency), "--loglevel", "WARNING", "-n", f"bench{i}@%h",
                                 "--without-mingle", "--without-gossip"], env=env, start_new_session=True)
               for i in range(args.workers)]
    from signalhub.notifications.tasks import fan_out_signals
    from signalhub.worker import celery_app

    # Time the work, not the workers' start-up: wait until every worker answers a ping.
    ready_by = time.monotonic() + 120
    while len(celery_app.control.ping(timeout=1.0)) < args.workers:
        if time.monotonic() > ready_by:
            raise SystemExit("workers did not start within 120 s")
    groups: dict[str, set] = {"workers": {proc.pid for proc in workers}, "receiver": {receiver.pid},
                              "PostgreSQL": {"postgres"}, "Redis": {"redis-server"}}

    rounds: list[dict[str, float]] = []
    for number in range(1, args.rounds + 1):
        with session_scope() as session:
            # A new signal each round (a new bar): the same subscribers hear about it.
            signal_row = Signal(ticker="AAPL", strategy="rsi_reversal", interval="1d", bar_ts=utcnow(),
                                action="BUY", grade="STRONG_BUY", technical_confidence=0.9,
                                combined_confidence=0.9, technical_only=True, price=188.38,
                                reasons=["RSI(14) 25.18 < 30"], params={}, params_hash="x", inputs_hash="x",
                                input_start_ts=utcnow())
            session.add(signal_row)
            session.flush()
            signal_id = signal_row.id
        of_signal = (select(func.count(), func.min(NotificationDelivery.id), func.max(NotificationDelivery.id))
                     .join(Notification, Notification.id == NotificationDelivery.notification_id)
                     .where(Notification.signal_id == signal_id))
        cpu_before = cpu_seconds(groups)
        t0, queued_at = time.perf_counter(), time.time()
        fanned = fan_out_signals.delay([signal_id]).get(timeout=600)
        t_fanout = time.perf_counter() - t0
        with session_scope() as session:
            _count, low, high = session.execute(of_signal).one()
        # Polled by primary key range, five times a second: the harness takes little from what it measures (the
        # end-to-end time is at most 0.2 s pessimistic).
        sent_of_round = (select(func.count()).select_from(NotificationDelivery)
                         .where(NotificationDelivery.id.between(low, high), NotificationDelivery.status == "sent"))
        deadline, sent = time.monotonic() + 900, 0
        while time.monotonic() < deadline:
            with session_scope() as session:
                sent = session.scalar(sent_of_round) or 0
            if sent >= fanned["deliveries"]:
                break
            time.sleep(0.2)
        t_total = time.perf_counter() - t0
        cpu = {group: after - cpu_before[group] for group, after in cpu_seconds(groups).items()}
        stats = httpx.get(f"http://127.0.0.1:{port}/stats", params={"lo": low, "hi": high}).json()
        receiving = max(stats["last"] - stats["first"], 1e-9)
        rows = fanned["notifications"] + fanned["deliveries"]
        result = {"rows_per_s": rows / t_fanout, "received": stats["count"], "receiving_s": receiving,
                  "deliveries_per_s": stats["count"] / receiving, "first_after_s": stats["first"] - queued_at,
                  "end_to_end_per_s": sent / t_total, "total_s": t_total}
        rounds.append(result)
        print(f"round {number}: fan-out {fanned['notifications']:,} notifications + {fanned['deliveries']:,} "
              f"deliveries in {t_fanout:.2f} s = {result['rows_per_s']:,.0f} rows/s; first webhook "
              f"{result['first_after_s']:.2f} s after queueing; the receiver got {stats['count']:,} distinct signed "
              f"webhooks in {receiving:.2f} s = {result['deliveries_per_s']:,.0f} deliveries/s; all {sent:,} "
              f"marked sent after {t_total:.2f} s = {result['end_to_end_per_s']:,.0f}/s end to end")
        print("  CPU seconds: " + ", ".join(f"{group} {seconds:.2f}" for group, seconds in cpu.items())
              + f" (2 cores x {t_total:.2f} s = {2 * t_total:.2f} available)")
    for proc in [*workers, receiver]:
        os.killpg(proc.pid, signal.SIGTERM)
    for proc in [*workers, receiver]:
        proc.wait(timeout=60)

    def median(key: str) -> float:
        return statistics.median(r[key] for r in rounds)

    rate, end_to_end = median("deliveries_per_s"), median("end_to_end_per_s")
    print(f"median of {len(rounds)} rounds ({args.workers} workers x {args.concurrency} processes, chunks of "
          f"{args.chunk_size}): fan-out {median('rows_per_s'):,.0f} rows/s; sending {rate:,.0f} deliveries/s at the "
          f"receiver (first to last webhook); end to end {end_to_end:,.0f} deliveries/s")
    print(f"ratio to {REFERENCE_EVENTS_PER_SECOND} events/s: sending {rate / REFERENCE_EVENTS_PER_SECOND:.2f}x, "
          f"end to end {end_to_end / REFERENCE_EVENTS_PER_SECOND:.2f}x")
    lost = [r for r in rounds if r["received"] < args.subscribers]
    verdict = "met" if rate >= TARGET_DELIVERIES_PER_SECOND else "NOT met"
    print(f"target {TARGET_DELIVERIES_PER_SECOND:,} deliveries/s: {verdict} (slowest round "
          f"{min(r['deliveries_per_s'] for r in rounds):,.0f}/s)")
    if lost:
        print(f"ERROR: {len(lost)} round(s) delivered fewer than {args.subscribers:,} webhooks")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
