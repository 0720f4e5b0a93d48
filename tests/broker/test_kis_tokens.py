"""KIS access tokens: one issuance shared by every process, refreshed before it lapses, leases that expire."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import timedelta

from sqlalchemy import select

from signalhub.broker.kis.client import KisClient
from signalhub.broker.kis.tokens import key_hash
from signalhub.core.config import PROJECT_ROOT
from signalhub.core.crypto import decrypt_json, encrypt_json
from signalhub.core.time import utcnow
from signalhub.models.kis_access_token import KisAccessToken

# Each worker process builds its own client and makes one call, starting at the same instant.
_WORKER = """
import json, sys, time
from signalhub.broker.kis.client import KisClient, KisCredentials
creds = KisCredentials(**json.loads(sys.argv[1]))
start_at = float(sys.argv[2])
time.sleep(max(0.0, start_at - time.time()))
with KisClient(creds) as client:
    quote = client.current_price("005930")
print(json.dumps({"price": str(quote.price), "token": client._tokens.get()}))
"""


def test_four_processes_starting_at_once_issue_one_token(kis_env, fake, db_session):
    creds = fake.add_app(paper=False)
    fake.set_price("005930", 70_000)
    env = {**os.environ, "KIS_REAL_BASE_URL": fake.url(False), "KIS_PAPER_BASE_URL": fake.url(True),
           "PYTHONPATH": f"{PROJECT_ROOT / 'backend'}:{PROJECT_ROOT}"}
    start_at = time.time() + 6  # after every interpreter has imported the platform
    args = json.dumps({"app_key": creds.app_key, "app_secret": creds.app_secret, "paper": False})
    procs = [subprocess.Popen([sys.executable, "-c", _WORKER, args, str(start_at)], env=env, cwd=PROJECT_ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(4)]
    outputs = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err[-2000:]
        outputs.append(json.loads(out.strip().splitlines()[-1]))
    assert fake.token_requests == 1 and fake.token_issuances == 1
    assert {o["token"] for o in outputs} == {fake.tokens_issued[0]}
    assert {o["price"] for o in outputs} == {"70000"}
    assert len([r for r in fake.requests if "inquire-price" in r["path"]]) == 4
    row = db_session.scalars(select(KisAccessToken)).one()
    assert decrypt_json(row.token_encrypted) == fake.tokens_issued[0]
    assert row.lock_owner is None  # every issuer released its lease


def _store(db_session, creds, **values) -> None:
    now = utcnow()
    db_session.add(KisAccessToken(key_hash=key_hash(creds.app_key, creds.paper), env="paper" if creds.paper else "real",
                                  created_at=now, updated_at=now, **values))
    db_session.commit()


def test_token_close_to_expiry_is_refreshed_before_it_lapses(kis_env, fake, db_session):
    creds = fake.add_app(paper=False)
    fake.set_price("005930", 70_000)
    # A token with 5 minutes left (less than the 10-minute margin), issued long ago.
    _store(db_session, creds, token_encrypted=encrypt_json("old-token"), expires_at=utcnow() + timedelta(minutes=5),
           issued_at=utcnow() - timedelta(hours=23, minutes=55), next_issue_at=utcnow() - timedelta(hours=23))
    with KisClient(creds) as client:
        client.current_price("005930")
    assert fake.token_issuances == 1
    db_session.expire_all()
    row = db_session.scalars(select(KisAccessToken)).one()
    assert decrypt_json(row.token_encrypted) == fake.tokens_issued[0] != "old-token"
    assert row.expires_at > utcnow() + timedelta(hours=23)


def test_fresh_cached_token_is_used_without_issuing(kis_env, fake, db_session):
    creds = fake.add_app(paper=True)
    fake.set_price("005930", 70_000)
    with KisClient(creds) as client:
        client.current_price("005930")
    with KisClient(creds) as client:  # a new process-like client: reads the database
        client._tokens._cached = None
        client.current_price("005930")
    assert fake.token_requests == 1


def test_lease_of_a_crashed_issuer_expires(kis_env, fake, db_session):
    creds = fake.add_app(paper=False)
    fake.set_price("005930", 70_000)
    _store(db_session, creds, lock_owner="crashed-host:1:dead", lock_until=utcnow() + timedelta(seconds=1.5))
    started = time.monotonic()
    with KisClient(creds) as client:
        client.current_price("005930")
    assert 1.0 <= time.monotonic() - started < 10
    assert fake.token_issuances == 1
