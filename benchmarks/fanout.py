"""Benchmark: one signal fanned out to 10,000 webhook subscribers by real Celery workers.

Each subscriber has its own webhook channel (own signing secret) pointing at a local receiver (uvicorn, a
separate process). The benchmark times the fan-out task (rows created per second: notifications +
deliveries) and the sending (deliveries per second, from the first send until the receiver has every one),
and prints the ratio to 784 events/s, the event rate a comparable trading system reports.

    .venv/bin/python benchmarks/fanout.py [--subscribers 10000] [--workers 2] [--concurrency 2]

Uses DATABASE_URL / REDIS_URL when set (CI: PostgreSQL + Redis); otherwise BENCH_PG_URL + BENCH_REDIS_URL
defaults on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
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
    import os
    import time
    COUNT_FILE = os.environ["COUNT_FILE"]
    seen = set()
    first = []
    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = dict(scope["headers"])
        if not first:
            first.append(time.time())
        seen.add(headers.get(b"webhook-id", b""))
        if len(seen) % 500 == 0:
            with open(COUNT_FILE, "w") as handle:
                handle.write(f"{len(seen)} {first[0]} {time.time()}")
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"ok"})
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
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="signalhub-fanout-"))
    env = {**os.environ, "DATABASE_URL": os.environ.get("DATABASE_URL") or fresh_database(),
           "REDIS_URL": os.environ.get("REDIS_URL") or REDIS_URL, "ENVIRONMENT": "development",
           "SECRET_KEY": "bench-" + "x" * 40, "DELIVERY_RATE_PER_DESTINATION": "1000000",
           "DELIVERY_CHUNK_SIZE": os.environ.get("BENCH_CHUNK_SIZE", "500"), "LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "WARNING"),
           "ALLOW_LOOPBACK_DESTINATIONS": "true"}  # the receiver is local
    env.pop("CELERY_BROKER_URL", None)
    env.pop("CELERY_RESULT_BACKEND", None)
    os.environ.update(env)

    from alembic import command
    from alembic.config import Config
    from sqlalchemy import func, select

    command.upgrade(Config(str(ROOT / "alembic.ini")), "head")
    from signalhub.core.crypto import encrypt_json
    from signalhub.core.db import session_scope
    from signalhub.core.ratelimit import get_redis
    from signalhub.core.time import utcnow
    from signalhub.models import AlertRule, NotificationChannel, NotificationDelivery, Signal, Stock, User
    from signalhub.notifications.channels.webhook import generate_webhook_secret

    get_redis().flushdb()
    port = free_port()
    (work / "receiver.py").write_text(RECEIVER)
    count_file = work / "count"
    receiver = subprocess.Popen([str(BIN / "uvicorn"), "receiver:app", "--port", str(port), "--log-level",
                                 "warning", "--no-access-log"], cwd=work, env={**env, "COUNT_FILE": str(count_file)},
                                start_new_session=True)
    started = time.perf_counter()
    with session_scope() as session:
        session.add(Stock(ticker="AAPL", name="Apple Inc.", exchange="XNYS", currency="USD"))
        session.flush()
        signal_row = Signal(ticker="AAPL", strategy="rsi_reversal", interval="1d", bar_ts=utcnow(), action="BUY",
                            grade="STRONG_BUY", technical_confidence=0.9, combined_confidence=0.9,
                            technical_only=True, price=188.38, reasons=["RSI(14) 25.18 < 30"], params={},
                            params_hash="x", inputs_hash="x", input_start_ts=utcnow())
        session.add(signal_row)
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
        signal_id = signal_row.id
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
    cpu_before = cpu_seconds(groups)
    t0, queued_at = time.perf_counter(), time.time()
    fanned = fan_out_signals.delay([signal_id]).get(timeout=600)
    t_fanout = time.perf_counter() - t0
    deadline = time.monotonic() + 900
    sent = 0
    while time.monotonic() < deadline:
        with session_scope() as session:
            sent = session.scalar(select(func.count()).select_from(NotificationDelivery)
                                  .where(NotificationDelivery.status == "sent")) or 0
        if sent >= args.subscribers:
            break
        time.sleep(0.2)
    t_total = time.perf_counter() - t0
    received, first_at, last_at = (count_file.read_text().split() if count_file.exists() else ("0", "0", "1"))
    received, receiving = int(received), max(float(last_at) - float(first_at), 1e-9)
    cpu_used = {group: after - cpu_before[group] for group, after in cpu_seconds(groups).items()}
    for proc in [*workers, receiver]:
        os.killpg(proc.pid, signal.SIGTERM)
    for proc in [*workers, receiver]:
        proc.wait(timeout=60)

    rows = fanned["notifications"] + fanned["deliveries"]
    rate = received / receiving
    print(f"fan-out task: {fanned['notifications']:,} notifications + {fanned['deliveries']:,} deliveries in "
          f"{t_fanout:.2f} s = {rows / t_fanout:,.0f} rows/s (sending starts with its first committed part)")
    print(f"first webhook arrived {float(first_at) - queued_at:.2f} s after the fan-out task was queued")
    print(f"sending: the receiver got {received:,} distinct signed webhooks between its first and last in "
          f"{receiving:.2f} s = {rate:,.0f} deliveries/s ({args.workers} workers x {args.concurrency} processes)")
    print(f"end to end: {sent:,} marked sent {t_total:.2f} s after the fan-out task was queued = "
          f"{sent / t_total:,.0f} deliveries/s; ratio to {REFERENCE_EVENTS_PER_SECOND} events/s: "
          f"{sent / t_total / REFERENCE_EVENTS_PER_SECOND:.2f}x")
    print("CPU seconds over the run: " + ", ".join(f"{group} {seconds:.2f}" for group, seconds in cpu_used.items())
          + f" (2 cores x {t_total:.2f} s = {2 * t_total:.2f} available)")
    verdict = "met" if rate >= TARGET_DELIVERIES_PER_SECOND else "NOT met"
    print(f"target {TARGET_DELIVERIES_PER_SECOND:,} deliveries/s: {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
