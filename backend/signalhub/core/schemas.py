"""Response shapes shared by several domains."""

from __future__ import annotations

from pydantic import BaseModel


class Page[T](BaseModel):
    """One page of a longer list."""

    total: int
    limit: int
    offset: int
    items: list[T]
