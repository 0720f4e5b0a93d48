"""Business rules for users; flushes, never commits."""

from __future__ import annotations

from sqlalchemy.orm import Session

from signalhub.core.errors import ConflictError
from signalhub.core.security import hash_password
from signalhub.models.user import User, UserRole
from signalhub.users import repository
from signalhub.users.schemas import UserCreate, UserUpdate


def register(session: Session, data: UserCreate, role: UserRole = UserRole.USER) -> User:
    """Create an account; 409 if the e-mail or username is taken."""
    if repository.get_by_email(session, data.email) is not None:
        raise ConflictError(f"A user with e-mail {data.email} already exists")
    _ensure_username_free(session, data.username)
    user = User(
        email=data.email.lower(),
        username=data.username,
        password_hash=hash_password(data.password),
        role=role,
        timezone=data.timezone,
        initial_capital=data.initial_capital,
        capital_currency=data.capital_currency,
    )
    return repository.add(session, user)


def update_profile(session: Session, user: User, data: UserUpdate) -> User:
    """Apply the fields the user sent to their own profile."""
    changes = data.model_dump(exclude_unset=True, exclude_none=True)
    if "username" in changes and changes["username"].lower() != user.username.lower():
        _ensure_username_free(session, changes["username"])
    if "password" in changes:
        user.password_hash = hash_password(changes.pop("password"))
    for field, value in changes.items():
        setattr(user, field, value)
    session.flush()
    return user


def _ensure_username_free(session: Session, username: str) -> None:
    if repository.get_by_username(session, username) is not None:
        raise ConflictError(f"Username {username!r} is already taken")
