"""SQLAlchemy models, one module per table; importing this package registers them all."""

from signalhub.models.alert_rule import AlertRule
from signalhub.models.background_job import BackgroundJob
from signalhub.models.base import Base, TimestampMixin, UTCDateTime
from signalhub.models.notification import Notification
from signalhub.models.notification_channel import NotificationChannel
from signalhub.models.notification_delivery import NotificationDelivery
from signalhub.models.prediction import Prediction
from signalhub.models.price_bar import PriceBar
from signalhub.models.refresh_token import RefreshToken
from signalhub.models.signal import Signal
from signalhub.models.stock import Stock
from signalhub.models.technical_indicator import TechnicalIndicator
from signalhub.models.user import User, UserRole
from signalhub.models.watchlist_item import WatchlistItem

__all__ = [
    "AlertRule", "BackgroundJob", "Base", "Notification", "NotificationChannel", "NotificationDelivery",
    "Prediction", "PriceBar", "RefreshToken", "Signal", "Stock", "TechnicalIndicator", "TimestampMixin",
    "UTCDateTime", "User", "UserRole", "WatchlistItem",
]
