"""SQLAlchemy models, one module per table; importing this package registers them all."""

from signalhub.models.base import Base, TimestampMixin, UTCDateTime
from signalhub.models.refresh_token import RefreshToken
from signalhub.models.user import User, UserRole

__all__ = ["Base", "RefreshToken", "TimestampMixin", "UTCDateTime", "User", "UserRole"]
