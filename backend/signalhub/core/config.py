"""Application settings, read from the environment and `.env`."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parents[3]
VAR_DIR = PROJECT_ROOT / "var"
DEFAULT_SECRET_KEY = "change-me-development-only-secret-key"  # refused outside development


class Settings(BaseSettings):
    """Every tunable of the platform; each one is documented in `.env.example`."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore",
                                      env_ignore_empty=True)

    environment: Literal["development", "test", "production"] = "development"
    secret_key: str = DEFAULT_SECRET_KEY
    log_level: str = "INFO"

    database_url: str = f"sqlite:///{VAR_DIR / 'signalhub.db'}"
    database_echo: bool = False
    redis_url: str | None = None
    celery_broker_url: str | None = None
    celery_result_backend: str | None = None
    # Redis broker: a task not acknowledged within this many seconds (its worker died) is delivered again.
    celery_visibility_timeout: int = Field(default=3600, gt=0)

    jwt_algorithm: str = "HS256"
    access_token_expire_minutes: int = Field(default=30, gt=0)
    refresh_token_expire_days: int = Field(default=14, gt=0)

    login_max_attempts: int = Field(default=5, gt=0)
    login_window_seconds: int = Field(default=900, gt=0)
    max_request_body_bytes: int = Field(default=1_048_576, gt=0)
    cors_origins: list[str] = Field(default_factory=list)

    # Market data. "replay" serves the bundled real history (works offline); "yahoo" fetches live.
    market_data_provider: Literal["yahoo", "replay", "kis"] = "replay"
    yahoo_base_url: str = "https://query2.finance.yahoo.com"
    yahoo_batch_size: int = Field(default=20, gt=0)
    yahoo_requests_per_second: float = Field(default=2.0, gt=0)
    yahoo_max_retries: int = Field(default=4, ge=0)
    yahoo_timeout_seconds: float = Field(default=10.0, gt=0)
    # Replay: history is replayed forward from REPLAY_START at REPLAY_SPEED x wall-clock time.
    replay_start: datetime | None = None
    replay_speed: float = Field(default=1.0, gt=0)
    # Beat: intraday polling period while a market is open, and how old the newest bar may be.
    intraday_poll_seconds: int = Field(default=60, gt=0)
    intraday_interval: str = "1m"
    stale_after_minutes: int = Field(default=15, gt=0)

    # Operations. Shared state (heartbeats, invariant episodes) and the beat lease file live in OPS_STATE_DIR
    # when there is no Redis; with Redis the beat lease is a key that expires BEAT_LOCK_TTL_SECONDS after its
    # holder stops renewing it.
    ops_state_dir: str = str(VAR_DIR)
    beat_lock_ttl_seconds: float = Field(default=30.0, gt=0)
    worker_heartbeat_seconds: float = Field(default=30.0, gt=0)
    # Invariants (checked every minute while markets are open): bars use STALE_AFTER_MINUTES; the signal
    # pipeline must have run within INVARIANT_EVALUATION_MINUTES; a channel kind fails when more than the ratio
    # of at least MIN_ATTEMPTS deliveries in the window failed.
    invariant_evaluation_minutes: int = Field(default=15, gt=0)
    invariant_channel_window_minutes: int = Field(default=60, gt=0)
    invariant_channel_failure_ratio: float = Field(default=0.5, ge=0, lt=1)
    invariant_channel_min_attempts: int = Field(default=5, gt=0)

    # Model server: reached over HTTP only, with short timeouts; signals flow without it.
    model_server_url: str = "http://127.0.0.1:8001"
    model_timeout_seconds: float = Field(default=1.0, gt=0)
    model_retries: int = Field(default=1, ge=0)
    model_breaker_failures: int = Field(default=3, gt=0)
    model_breaker_reset_seconds: float = Field(default=30.0, gt=0)
    model_horizon: int = Field(default=5, gt=0)

    # Signal performance: success means a signal return above this threshold (win: simply above zero);
    # a strategy whose last LENGTH evaluated signals at HORIZON trading days all lost alerts its subscribers.
    signal_success_threshold: float = Field(default=0.01, ge=0, lt=1)
    signal_loss_streak_length: int = Field(default=5, gt=0)
    signal_loss_streak_horizon: int = 5

    @field_validator("signal_loss_streak_horizon")
    @classmethod
    def _evaluated_horizon(cls, value: int) -> int:
        # Outcomes are only stored at these horizons; any other would never see a streak.
        if value not in (1, 5, 20):
            raise ValueError("must be 1, 5 or 20 (the evaluated horizons)")
        return value

    # Encryption of secrets at rest (channel secrets, broker credentials): a Fernet key.
    # Empty in development: derived from SECRET_KEY. Required outside development.
    fernet_key: str | None = None

    # Notifications. Base URLs are configurable so tests (and self-hosted gateways) can point them elsewhere.
    public_base_url: str = "http://127.0.0.1:8000"
    smtp_host: str | None = None  # empty: e-mails are written to EMAIL_OUTBOX_DIR instead (development)
    smtp_port: int = 587
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = True
    smtp_from: str = "Signalhub <alerts@signalhub.local>"
    smtp_timeout_seconds: float = Field(default=10.0, gt=0)
    email_outbox_dir: str = str(VAR_DIR / "outbox")
    vapid_private_key: str | None = None  # web push; `signalhub vapid-keys` makes a pair
    vapid_public_key: str | None = None
    vapid_subject: str = "mailto:alerts@signalhub.local"
    telegram_api_base: str = "https://api.telegram.org"
    telegram_bot_token: str | None = None
    sms_api_base: str = "https://api.twilio.com"
    sms_account_sid: str | None = None
    sms_auth_token: str | None = None
    sms_from_number: str | None = None
    notify_http_timeout_seconds: float = Field(default=5.0, gt=0)
    # User-given URLs (webhooks, Slack, push endpoints) may never reach private addresses; loopback only
    # when this is on (tests, local development).
    allow_loopback_destinations: bool = False
    delivery_max_attempts: int = Field(default=6, gt=0)
    delivery_backoff_base_seconds: float = Field(default=2.0, gt=0)
    delivery_backoff_max_seconds: float = Field(default=900.0, gt=0)
    delivery_rate_per_destination: float = Field(default=5.0, gt=0)  # sends per second to one destination
    delivery_chunk_size: int = Field(default=200, gt=0)
    channel_failure_alert_after: int = Field(default=3, gt=0)  # consecutive failures before an in-app notice

    # Monitoring. The API serves /metrics unauthenticated unless METRICS_TOKEN is set (then a Bearer token is
    # required); METRICS_ENABLED=false removes it. Workers export on WORKER_METRICS_HOST:PORT (0 disables).
    metrics_enabled: bool = True
    metrics_token: str | None = None
    worker_metrics_host: str = "127.0.0.1"
    worker_metrics_port: int = Field(default=9540, ge=0, le=65535)

    # Orders for opted-in users. Internal paper broker (seed 004): adverse slippage, commission, sell tax
    # (KRX tickers only), the share of a bar's volume one order may take, and each user's starting cash.
    paper_slippage_bps: float = Field(default=10.0, ge=0, le=1000)
    paper_commission_rate: float = Field(default=0.00015, ge=0, lt=0.1)
    paper_sell_tax_rate: float = Field(default=0.0015, ge=0, lt=0.1)
    paper_volume_participation: float = Field(default=0.1, gt=0, le=1)
    paper_initial_cash: float = Field(default=10_000_000.0, gt=0)
    # No new orders inside these KST windows ("HH:MM-HH:MM", or "fri HH:MM-HH:MM" for one weekday), comma
    # separated: the closing call auction (market orders do not fill at once) and KIS maintenance.
    trading_blackout_windows: str = "15:20-15:30"
    # A submission whose outcome is unknown is looked up at the broker; not found after this long, resent.
    order_unknown_grace_seconds: int = Field(default=120, gt=0)
    # A claimed order whose worker died is reconciled after this long.
    order_claim_lease_seconds: int = Field(default=300, gt=0)
    broker_timeout_seconds: float = Field(default=10.0, gt=0)
    trading_poll_seconds: int = Field(default=30, gt=0)  # fill polling while the market is open
    trading_reconcile_seconds: int = Field(default=300, gt=0)

    # KIS Open API. The platform-level credential (quotes, daily bars, real-time prices); users' own trading
    # keys are stored per user. Real and paper hosts are kept apart: a credential only ever reaches its own.
    kis_app_key: str | None = None
    kis_app_secret: str | None = None
    kis_paper: bool = True  # the platform credential is a paper (모의투자) key
    kis_real_base_url: str = "https://openapi.koreainvestment.com:9443"
    kis_paper_base_url: str = "https://openapivts.koreainvestment.com:29443"
    kis_real_ws_url: str = "ws://ops.koreainvestment.com:21000"
    kis_paper_ws_url: str = "ws://ops.koreainvestment.com:31000"
    kis_real_requests_per_second: float = Field(default=20.0, gt=0)  # per app key, all processes together
    kis_paper_requests_per_second: float = Field(default=2.0, gt=0)
    kis_timeout_seconds: float = Field(default=10.0, gt=0)
    kis_max_retries: int = Field(default=5, ge=0)  # EGW00201 / transient retries per call
    # Tokens: re-issued when less than the margin remains; never issued twice within the interval per key.
    kis_token_refresh_margin_seconds: int = Field(default=600, ge=0)
    kis_token_min_interval_seconds: float = Field(default=60.0, ge=0)
    kis_token_wait_seconds: float = Field(default=75.0, gt=0)  # longest wait for another process's issuance
    # tr_id overrides, JSON {"<default tr_id>": "<tr_id to send>"}, e.g. {"TTTC0012U": "TTTC0802U"}.
    kis_tr_id_overrides: dict[str, str] = Field(default_factory=dict)
    # Real-time consumer (`signalhub realtime`).
    kis_ws_max_subscriptions: int = Field(default=40, gt=0)
    realtime_symbols_refresh_seconds: float = Field(default=30.0, gt=0)
    realtime_leader_ttl_seconds: float = Field(default=15.0, gt=0)
    realtime_poll_seconds: float = Field(default=5.0, gt=0)  # REST polling while the WebSocket is down
    realtime_reconnect_seconds: float = Field(default=2.0, gt=0)
    realtime_metrics_port: int = Field(default=9541, ge=0, le=65535)  # on WORKER_METRICS_HOST; 0 disables

    @model_validator(mode="after")
    def _refuse_default_secret(self) -> Settings:
        # A forgotten secret in production would let anyone mint admin tokens.
        if self.environment != "development" and (
            self.secret_key == DEFAULT_SECRET_KEY or len(self.secret_key) < 32
        ):
            raise ValueError(
                "SECRET_KEY must be set to a random value of at least 32 characters outside development"
            )
        if self.environment != "development" and not self.fernet_key:
            raise ValueError("FERNET_KEY must be set outside development (python -c \"from cryptography.fernet "
                             "import Fernet; print(Fernet.generate_key().decode())\")")
        return self

    @property
    def broker_url(self) -> str:
        """Celery broker: explicit URL, else Redis, else an embedded SQLite broker needing no server."""
        if self.celery_broker_url:
            return self.celery_broker_url
        if self.redis_url:
            return self.redis_url
        return f"sqla+sqlite:///{VAR_DIR / 'celery-broker.db'}"

    @property
    def result_backend(self) -> str:
        """Celery result store: explicit URL, else Redis, else an embedded SQLite database."""
        if self.celery_result_backend:
            return self.celery_result_backend
        if self.redis_url:
            return self.redis_url
        return f"db+sqlite:///{VAR_DIR / 'celery-results.db'}"

    @property
    def is_sqlite(self) -> bool:
        """Whether the platform runs on the embedded SQLite database."""
        return self.database_url.startswith("sqlite")


@lru_cache
def get_settings() -> Settings:
    """Return the process-wide settings (cached; tests clear the cache to reload)."""
    return Settings()
