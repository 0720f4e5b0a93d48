"""All SQL for refresh tokens."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from signalhub.models.refresh_token import RefreshToken


def add(session: Session, token: RefreshToken) -> RefreshToken:
    """Stage a newly issued refresh token."""
    session.add(token)
    session.flush()
    return token


def get_by_jti_for_update(session: Session, jti: str) -> RefreshToken | None:
    """Return the token row, locked so two refreshes with one token cannot both succeed."""
    return session.scalar(select(RefreshToken).where(RefreshToken.jti == jti).with_for_update())


def revoke_all_for_user(session: Session, user_id: int, now: datetime) -> int:
    """Revoke every live refresh token of a user; returns how many."""
    result = session.execute(
        update(RefreshToken)
        .where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return result.rowcount or 0


def delete_expired(session: Session, now: datetime) -> int:
    """Delete refresh tokens that have expired; returns how many."""
    result = session.execute(delete(RefreshToken).where(RefreshToken.expires_at < now))
    return result.rowcount or 0
