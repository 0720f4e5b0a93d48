"""HTTP layer for registration and the signed-in user's profile."""

from __future__ import annotations

from fastapi import APIRouter, status

from signalhub.core.deps import CurrentUser, SessionDep
from signalhub.core.errors import ErrorResponse
from signalhub.models.user import User
from signalhub.users import service
from signalhub.users.schemas import UserCreate, UserRead, UserUpdate

router = APIRouter(prefix="/api/v1/users", tags=["users"])

_AUTH_ERRORS = {401: {"model": ErrorResponse}, 422: {"model": ErrorResponse}}


@router.post("/register", response_model=UserRead, status_code=status.HTTP_201_CREATED,
             responses={409: {"model": ErrorResponse}, 422: {"model": ErrorResponse}})
def register(session: SessionDep, body: UserCreate) -> User:
    """Create an account."""
    return service.register(session, body)


@router.get("/me", response_model=UserRead, responses=_AUTH_ERRORS)
def read_me(user: CurrentUser) -> User:
    """Return the signed-in user's profile."""
    return user


@router.patch("/me", response_model=UserRead, responses={**_AUTH_ERRORS, 409: {"model": ErrorResponse}})
def update_me(session: SessionDep, user: CurrentUser, body: UserUpdate) -> User:
    """Change the signed-in user's own profile (username, password, time zone, capital)."""
    return service.update_profile(session, user, body)
