"""Annotated FastAPI dependencies: database session, current user, admin user."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.orm import Session

from signalhub.core.db import get_session
from signalhub.core.errors import AuthenticationError, PermissionDeniedError
from signalhub.core.security import decode_token
from signalhub.models.user import User, UserRole
from signalhub.users import repository as users_repository

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/v1/users/token", auto_error=False)

# scope="function": commit before the response is sent, so a 2xx always means the data is stored.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def get_current_user(session: SessionDep, token: Annotated[str | None, Depends(oauth2_scheme)]) -> User:
    """Resolve the bearer token to an active user, or 401."""
    if not token:
        raise AuthenticationError("Not authenticated: send 'Authorization: Bearer <access token>'")
    claims = decode_token(token, "access")
    user = users_repository.get_by_id(session, claims.user_id)
    if user is None or not user.is_active:
        raise AuthenticationError("User is inactive or no longer exists")
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]


def get_admin_user(user: CurrentUser) -> User:
    """The current user, if an admin; 403 otherwise."""
    if user.role != UserRole.ADMIN:
        raise PermissionDeniedError("Administrator role required")
    return user


AdminUser = Annotated[User, Depends(get_admin_user)]
