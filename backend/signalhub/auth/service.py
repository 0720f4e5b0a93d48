"""Login, token issuing and rotation; flushes, never commits."""

from __future__ import annotations

from sqlalchemy.orm import Session

from signalhub.auth import repository
from signalhub.auth.schemas import TokenPair
from signalhub.core.config import get_settings
from signalhub.core.errors import AuthenticationError, RateLimitedError
from signalhub.core.ratelimit import get_attempt_counter
from signalhub.core.security import create_token, decode_token, dummy_password_hash, verify_password
from signalhub.core.time import utcnow
from signalhub.models.refresh_token import RefreshToken
from signalhub.models.user import User
from signalhub.users import repository as users_repository

# An IP may fail more often than one account (several people behind one NAT), but not without bound.
_IP_ATTEMPT_FACTOR = 4


def authenticate(session: Session, login: str, password: str, client_ip: str) -> User:
    """Check e-mail (or username) and password with brute-force limits; 401 if wrong, 429 if locked out."""
    settings = get_settings()
    counter = get_attempt_counter()
    window = settings.login_window_seconds
    account_key, ip_key = f"login:acct:{login.lower()}", f"login:ip:{client_ip}"
    for key, limit in ((account_key, settings.login_max_attempts),
                       (ip_key, settings.login_max_attempts * _IP_ATTEMPT_FACTOR)):
        state = counter.peek(key, window)
        if state.count >= limit:
            raise RateLimitedError("Too many failed login attempts; try again later", state.retry_after)

    user = (users_repository.get_by_email(session, login) if "@" in login
            else users_repository.get_by_username(session, login))
    # Verify against a dummy hash for unknown users so response time does not reveal which e-mails exist.
    valid = verify_password(password, user.password_hash if user else dummy_password_hash())
    if user is None or not valid or not user.is_active:
        counter.hit(account_key, window)
        counter.hit(ip_key, window)
        raise AuthenticationError("Incorrect e-mail or password")
    counter.reset(account_key)
    return user


def issue_tokens(session: Session, user: User) -> TokenPair:
    """Issue an access token and a stored (revocable) refresh token."""
    access, _ = create_token(user.id, "access")
    refresh, claims = create_token(user.id, "refresh")
    repository.add(session, RefreshToken(jti=claims.jti, user_id=user.id, expires_at=claims.expires_at))
    return TokenPair(access_token=access, refresh_token=refresh,
                     expires_in=get_settings().access_token_expire_minutes * 60)


def refresh_tokens(session: Session, refresh_token: str) -> TokenPair:
    """Rotate a refresh token; reusing a spent one revokes every token of that user."""
    claims = decode_token(refresh_token, "refresh")
    stored = repository.get_by_jti_for_update(session, claims.jti)
    if stored is None or stored.user_id != claims.user_id:
        raise AuthenticationError("Refresh token is not recognised")
    now = utcnow()
    if stored.revoked_at is not None:
        # A spent token coming back means it was stolen or replayed: end every session of the user.
        repository.revoke_all_for_user(session, stored.user_id, now)
        raise AuthenticationError("Refresh token has already been used", persist_changes=True)
    user = users_repository.get_by_id(session, claims.user_id)
    if user is None or not user.is_active:
        raise AuthenticationError("User is inactive or no longer exists")
    stored.revoked_at = now
    return issue_tokens(session, user)


def purge_expired_refresh_tokens(session: Session) -> int:
    """Delete expired refresh tokens; safe to run any number of times."""
    return repository.delete_expired(session, utcnow())
