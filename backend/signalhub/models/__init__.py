"""SQLAlchemy models, one module per table; importing this package registers them all."""

from signalhub.models.alert_rule import AlertRule
from signalhub.models.background_job import BackgroundJob
from signalhub.models.base import Base, TimestampMixin, UTCDateTime
from signalhub.models.kis_access_token import KisAccessToken
from signalhub.models.notification import Notification
from signalhub.models.notification_channel import NotificationChannel
from signalhub.models.notification_delivery import NotificationDelivery
from signalhub.models.notification_message import NotificationMessage
from signalhub.models.paper_account import PaperAccount
from signalhub.models.paper_order import PaperOrder
from signalhub.models.portfolio_transaction import PortfolioTransaction, TradeSide, TradeSource
from signalhub.models.prediction import Prediction
from signalhub.models.price_bar import PriceBar
from signalhub.models.refresh_token import RefreshToken
from signalhub.models.signal import Signal
from signalhub.models.signal_outcome import SignalOutcome
from signalhub.models.simulation import Simulation, SimulationStatus
from signalhub.models.stock import Stock
from signalhub.models.system_flag import SystemFlag
from signalhub.models.technical_indicator import TechnicalIndicator
from signalhub.models.trading_broker_account import BrokerAccount
from signalhub.models.trading_order import TradingOrder
from signalhub.models.trading_order_fill import TradingOrderFill
from signalhub.models.trading_risk_event import RiskEvent
from signalhub.models.trading_settings import TradingSettings
from signalhub.models.user import User, UserRole
from signalhub.models.watchlist_item import WatchlistItem

__all__ = [
    "AlertRule", "BackgroundJob", "Base", "BrokerAccount", "KisAccessToken",
    "Notification", "NotificationChannel", "NotificationDelivery", "NotificationMessage", "PaperAccount", "PaperOrder",
    "PortfolioTransaction", "Prediction", "PriceBar", "RefreshToken", "RiskEvent", "Signal", "SignalOutcome",
    "Simulation", "SimulationStatus", "Stock", "SystemFlag",
    "TechnicalIndicator",
    "TimestampMixin", "TradeSide", "TradeSource", "TradingOrder", "TradingOrderFill", "TradingSettings",
    "UTCDateTime", "User", "UserRole", "WatchlistItem",
]
