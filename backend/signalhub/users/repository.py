"""All SQL for users."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from signalhub.models.user import User, UserRole


def get_by_id(session: Session, user_id: int) -> User | None:
    """Return the user with this id, or None."""
    return session.get(User, user_id)


def get_by_email(session: Session, email: str) -> User | None:
    """Return the user with this e-mail (case-insensitive), or None."""
    return session.scalar(select(User).where(func.lower(User.email) == email.lower()))


def get_by_username(session: Session, username: str) -> User | None:
    """Return the user with this username (case-insensitive), or None."""
    return session.scalar(select(User).where(func.lower(User.username) == username.lower()))


def add(session: Session, user: User) -> User:
    """Stage a new user and flush so its id is known."""
    session.add(user)
    session.flush()
    return user


def active_admin_ids(session: Session) -> list[int]:
    """Ids of every active administrator."""
    stmt = select(User.id).where(User.role == UserRole.ADMIN, User.is_active.is_(True)).order_by(User.id)
    return list(session.scalars(stmt))
