"""Small shared operational state: heartbeats, open invariant episodes, daily error counts, cached snapshots.

Redis when REDIS_URL is set (every process on every host sees the same state); otherwise a JSON file under
OPS_STATE_DIR guarded by an flock, which serves the embedded single-host set-up. Values are JSON objects
with an optional time to live.
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import redis

from signalhub.core.config import get_settings
from signalhub.core.ratelimit import get_redis


class OpsStore(Protocol):
    """Key -> JSON object with optional expiry, plus per-key integer counters."""

    def put(self, key: str, value: dict[str, Any], ttl: float | None = None) -> None:
        """Store `value` under `key` (replacing it), expiring after `ttl` seconds if given."""

    def get(self, key: str) -> dict[str, Any] | None:
        """The value under `key`, or None (missing or expired)."""

    def delete(self, key: str) -> None:
        """Forget `key`."""

    def scan(self, prefix: str) -> dict[str, dict[str, Any]]:
        """Every live value whose key starts with `prefix`."""

    def incr(self, key: str, field: str, ttl: float | None = None) -> int:
        """Add one to counter `field` of `key` and return the new count."""

    def counts(self, key: str) -> dict[str, int]:
        """Every counter of `key`."""


class RedisOpsStore:
    """The store in Redis, under a key prefix."""

    def __init__(self, client: redis.Redis, prefix: str = "signalhub:ops:") -> None:
        self._redis = client
        self._prefix = prefix

    def put(self, key: str, value: dict[str, Any], ttl: float | None = None) -> None:
        """SET with an optional millisecond expiry."""
        self._redis.set(self._prefix + key, json.dumps(value, default=str),
                        px=int(ttl * 1000) if ttl else None)

    def get(self, key: str) -> dict[str, Any] | None:
        """GET and decode."""
        raw = self._redis.get(self._prefix + key)
        return json.loads(raw) if raw is not None else None

    def delete(self, key: str) -> None:
        """DEL."""
        self._redis.delete(self._prefix + key)

    def scan(self, prefix: str) -> dict[str, dict[str, Any]]:
        """SCAN the prefix (never KEYS: it blocks Redis) and MGET the values."""
        names = list(self._redis.scan_iter(match=f"{self._prefix}{prefix}*", count=500))
        if not names:
            return {}
        out = {}
        for name, raw in zip(names, self._redis.mget(names), strict=True):
            if raw is not None:
                key = name.decode() if isinstance(name, bytes) else name
                out[key[len(self._prefix):]] = json.loads(raw)
        return out

    def incr(self, key: str, field: str, ttl: float | None = None) -> int:
        """HINCRBY, with the hash's expiry set on first use."""
        name = f"{self._prefix}counts:{key}"
        pipe = self._redis.pipeline()
        pipe.hincrby(name, field, 1)
        if ttl:
            pipe.pexpire(name, int(ttl * 1000), nx=True)
        return int(pipe.execute()[0])

    def counts(self, key: str) -> dict[str, int]:
        """HGETALL."""
        raw = self._redis.hgetall(f"{self._prefix}counts:{key}")
        return {(k.decode() if isinstance(k, bytes) else k): int(v) for k, v in raw.items()}


class FileOpsStore:
    """The store as one JSON file; an exclusive flock serialises every read-modify-write across processes."""

    def __init__(self, path: Path, clock: Any = time.time) -> None:
        self.path = path
        self._clock = clock

    @contextmanager
    def _locked(self) -> Iterator[dict[str, Any]]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_suffix(".lock"), "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                try:
                    data = json.loads(self.path.read_text() or "{}")
                except (OSError, ValueError):
                    data = {}
                now = self._clock()
                data = {k: v for k, v in data.items() if v.get("exp") is None or v["exp"] > now}
                before = json.dumps(data, sort_keys=True, default=str)
                yield data
                if json.dumps(data, sort_keys=True, default=str) != before:
                    # Write-then-rename: a reader never sees half a file.
                    fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".ops-state-")
                    with os.fdopen(fd, "w") as fh:
                        json.dump(data, fh, default=str)
                    os.replace(tmp, self.path)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _expiry(self, ttl: float | None) -> float | None:
        return self._clock() + ttl if ttl else None

    def put(self, key: str, value: dict[str, Any], ttl: float | None = None) -> None:
        """Store `value` under `key`."""
        with self._locked() as data:
            data[key] = {"v": value, "exp": self._expiry(ttl)}

    def get(self, key: str) -> dict[str, Any] | None:
        """The value under `key`, or None."""
        with self._locked() as data:
            entry = data.get(key)
        return entry["v"] if entry is not None else None

    def delete(self, key: str) -> None:
        """Forget `key`."""
        with self._locked() as data:
            data.pop(key, None)

    def scan(self, prefix: str) -> dict[str, dict[str, Any]]:
        """Every live value whose key starts with `prefix`."""
        with self._locked() as data:
            return {k: v["v"] for k, v in data.items() if k.startswith(prefix) and not k.startswith("counts:")}

    def incr(self, key: str, field: str, ttl: float | None = None) -> int:
        """Add one to a counter."""
        with self._locked() as data:
            entry = data.setdefault(f"counts:{key}", {"v": {}, "exp": self._expiry(ttl)})
            entry["v"][field] = int(entry["v"].get(field, 0)) + 1
            return entry["v"][field]

    def counts(self, key: str) -> dict[str, int]:
        """Every counter of `key`."""
        with self._locked() as data:
            entry = data.get(f"counts:{key}")
        return dict(entry["v"]) if entry is not None else {}


@lru_cache
def get_ops_store() -> OpsStore:
    """The process-wide store: Redis when configured, else the file under OPS_STATE_DIR."""
    client = get_redis()
    if client is not None:
        return RedisOpsStore(client)
    return FileOpsStore(Path(get_settings().ops_state_dir) / "ops-state.json")
