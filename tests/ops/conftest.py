"""Ops tests keep their shared state (file store, beat lease) in a directory of their own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from signalhub.ops.state import get_ops_store


@pytest.fixture(autouse=True)
def ops_state_dir(env: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """A fresh OPS_STATE_DIR per test (with Redis configured, the store lives in Redis db instead)."""
    env.setenv("OPS_STATE_DIR", str(tmp_path / "ops"))
    get_ops_store.cache_clear()
    yield tmp_path / "ops"
    get_ops_store.cache_clear()
