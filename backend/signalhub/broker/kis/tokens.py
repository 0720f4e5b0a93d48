"""KIS access tokens shared by every process through the database, issued under a cross-process lease.

KIS issues one token a minute per app key (EGW00133 beyond that) and sends a KakaoTalk message for every
issuance, so the token lives in `kis_access_tokens` (encrypted with core.crypto) for every worker, API and
consumer process. Whoever finds no usable token takes a short lease on the row with one atomic UPDATE
(works the same on SQLite and PostgreSQL, and a crashed holder blocks the others only until the lease
ends), re-reads the row, issues, stores, and releases; the others poll the row until the token appears.
`next_issue_at` keeps even a process that lost its cache from asking twice within the minute.

Each step commits on its own short transaction: this is a cache of an external credential shared with
other processes, so it must be visible to them at once and never ride on a caller's unit of work.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update

from signalhub.core import metrics
from signalhub.core.config import get_settings
from signalhub.core.crypto import decrypt_json, encrypt_json
from signalhub.core.db import session_scope, upsert_rows
from signalhub.core.time import utcnow
from signalhub.models.kis_access_token import KisAccessToken

logger = logging.getLogger(__name__)

THROTTLED = "EGW00133"  # tokenP asked again within the minute


@dataclass(frozen=True)
class IssuedToken:
    """A token as tokenP returned it, with its expiry in UTC."""

    token: str
    expires_at: datetime


class TokenThrottled(Exception):
    """tokenP refused with EGW00133 (one issuance a minute per app key)."""


class TokenUnavailable(Exception):
    """No usable token could be obtained within the configured wait."""


def key_hash(app_key: str, paper: bool) -> str:
    """The row key of an app key: sha256 of the environment and the key (the key itself is never stored)."""
    return hashlib.sha256(f"{'paper' if paper else 'real'}:{app_key}".encode()).hexdigest()


class TokenStore:
    """Hands out the current access token of one app key, issuing it at most once per interval overall."""

    def __init__(self, app_key: str, paper: bool, issue: Callable[[], IssuedToken], *,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        settings = get_settings()
        self.env = "paper" if paper else "real"
        self.key_hash = key_hash(app_key, paper)
        self._issue = issue
        self._sleep = sleep
        self._margin = timedelta(seconds=settings.kis_token_refresh_margin_seconds)
        self._min_interval = timedelta(seconds=settings.kis_token_min_interval_seconds)
        self._wait = settings.kis_token_wait_seconds
        self._lease = timedelta(seconds=settings.kis_timeout_seconds + 5)
        self._owner = f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        # In-process copy, so a request costs no database read while the token is fresh.
        self._cached: tuple[str, str, datetime] | None = None  # (token, encrypted form, expires_at)

    def get(self) -> str:
        """A token valid for at least the refresh margin (or, while issuance is throttled, still valid)."""
        now = utcnow()
        if self._cached and self._cached[2] - self._margin > now:
            return self._cached[0]
        deadline = time.monotonic() + self._wait
        while True:
            row = self._read()
            token = self._usable(row, utcnow(), self._margin)
            if token is not None:
                return token
            if self._try_lease():
                try:
                    outcome = self._issue_under_lease()
                finally:
                    self._release()
                if isinstance(outcome, str):
                    return outcome
                pause = outcome
            else:
                pause = 0.1  # another process is issuing: its token shows up in the row shortly
            if time.monotonic() + pause > deadline:
                raise TokenUnavailable(f"no KIS access token within {self._wait:g}s ({self.env})")
            self._sleep(pause)

    def invalidate(self, token: str) -> None:
        """Mark `token` expired (KIS said EGW00123/EGW00121) unless another process already replaced it."""
        if self._cached and self._cached[0] == token:
            encrypted = self._cached[1]
            self._cached = None
            with session_scope() as session:
                session.execute(update(KisAccessToken)
                                .where(KisAccessToken.key_hash == self.key_hash,
                                       KisAccessToken.token_encrypted == encrypted)
                                .values(expires_at=utcnow()))

    def _read(self) -> KisAccessToken:
        with session_scope() as session:
            now = utcnow()
            upsert_rows(session, KisAccessToken.__table__,
                        [{"key_hash": self.key_hash, "env": self.env, "created_at": now, "updated_at": now}],
                        key=["key_hash"], update=[])
            row = session.scalars(select(KisAccessToken).where(KisAccessToken.key_hash == self.key_hash)).one()
            session.expunge(row)
            return row

    def _usable(self, row: KisAccessToken, now: datetime, margin: timedelta) -> str | None:
        if not row.token_encrypted or row.expires_at is None or row.expires_at - margin <= now:
            return None
        token = str(decrypt_json(row.token_encrypted))
        self._cached = (token, row.token_encrypted, row.expires_at)
        return token

    def _try_lease(self) -> bool:
        now = utcnow()
        with session_scope() as session:
            result = session.execute(
                update(KisAccessToken)
                .where(KisAccessToken.key_hash == self.key_hash,
                       or_(KisAccessToken.lock_until.is_(None), KisAccessToken.lock_until < now))
                .values(lock_owner=self._owner, lock_until=now + self._lease)
                .execution_options(synchronize_session=False))
            return result.rowcount == 1  # type: ignore[attr-defined]

    def _release(self) -> None:
        with session_scope() as session:
            session.execute(update(KisAccessToken)
                            .where(KisAccessToken.key_hash == self.key_hash, KisAccessToken.lock_owner == self._owner)
                            .values(lock_owner=None, lock_until=None)
                            .execution_options(synchronize_session=False))

    def _issue_under_lease(self) -> str | float:
        """Issue and store a token; return it, or the seconds to wait before trying again."""
        row = self._read()  # someone may have stored one between our read and the lease
        now = utcnow()
        token = self._usable(row, now, self._margin)
        if token is not None:
            return token
        if row.next_issue_at is not None and row.next_issue_at > now:
            # Throttled: a token that has not lapsed yet is better than waiting for a fresh one.
            token = self._usable(row, now, timedelta(0))
            if token is not None:
                return token
            return min(1.0, (row.next_issue_at - now).total_seconds())
        try:
            issued = self._issue()
        except TokenThrottled:
            logger.warning("KIS token issuance throttled (EGW00133); waiting", extra={"env": self.env})
            self._store(next_issue_at=utcnow() + max(self._min_interval, timedelta(seconds=1)))
            token = self._usable(row, utcnow(), timedelta(0))
            return token if token is not None else 1.0
        now = utcnow()
        encrypted = encrypt_json(issued.token)
        self._store(token_encrypted=encrypted, expires_at=issued.expires_at, issued_at=now,
                    next_issue_at=now + self._min_interval)
        metrics.KIS_TOKEN_ISSUANCES.labels(env=self.env).inc()
        logger.info("KIS access token issued", extra={"env": self.env, "expires_at": issued.expires_at.isoformat()})
        self._cached = (issued.token, encrypted, issued.expires_at)
        return issued.token

    def _store(self, **values: object) -> None:
        with session_scope() as session:
            session.execute(update(KisAccessToken).where(KisAccessToken.key_hash == self.key_hash)
                            .values(updated_at=utcnow(), **values).execution_options(synchronize_session=False))
