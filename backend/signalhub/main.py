"""App factory: settings, routers, error handlers and middleware in one place."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from signalhub import __version__
from signalhub.alerts.router import router as alerts_router
from signalhub.auth.router import router as auth_router
from signalhub.core.config import get_settings
from signalhub.core.errors import install_error_handlers
from signalhub.core.logging import CorrelationIdMiddleware, configure_logging
from signalhub.core.metrics_http import HttpMetricsMiddleware
from signalhub.core.metrics_http import router as metrics_router
from signalhub.core.middleware import BodySizeLimitMiddleware
from signalhub.health.router import router as health_router
from signalhub.indicators.router import router as indicators_router
from signalhub.market_data.router import router as market_data_router
from signalhub.notifications.router import router as notifications_router
from signalhub.ops.router import router as ops_router
from signalhub.portfolios.router import router as portfolios_router
from signalhub.recommendations.router import router as recommendations_router
from signalhub.screening.router import router as screening_router
from signalhub.signals.router import router as signals_router
from signalhub.simulations.router import router as simulations_router
from signalhub.tasks.router import router as tasks_router
from signalhub.trading.router import router as trading_router
from signalhub.users.router import router as users_router
from signalhub.watchlists.router import router as watchlists_router

OPENAPI_TAGS = [
    {"name": "auth", "description": "Log in (OAuth2 password flow) and refresh tokens."},
    {"name": "users", "description": "Registration and your own profile."},
    {"name": "portfolio", "description": "Your trades, positions by average cost (manual, paper and KIS fills "
                                         "side by side) and the per-currency dashboard."},
    {"name": "stocks", "description": "Known instruments, their bars, and queued price updates."},
    {"name": "indicators", "description": "Stored technical indicators per bar."},
    {"name": "screening", "description": "Latest readings, oversold/overbought screens, correlations."},
    {"name": "watchlist", "description": "The tickers you follow."},
    {"name": "signals", "description": "Graded strategy signals and model prediction accuracy."},
    {"name": "recommendations", "description": "AI recommendations and patterns across tickers."},
    {"name": "simulations", "description": "Backtests of the live strategies on stored history: metrics, trades, "
                                           "equity curve and chart against buy-and-hold."},
    {"name": "tasks", "description": "State of background jobs you started."},
    {"name": "alerts", "description": "Your alert rules: which signals, which channels, quiet hours, digests."},
    {"name": "notifications", "description": "Your channels, inbox (with a live stream) and delivery history."},
    {"name": "trading", "description": "Broker credentials, opt-in, risk limits, orders, positions, risk events, "
                                        "kill switches."},
    {"name": "admin", "description": "Administrator views: system status, users, failed deliveries and replay."},
    {"name": "health", "description": "Liveness and readiness probes."},
]


def create_app() -> FastAPI:
    """Build the FastAPI application."""
    settings = get_settings()
    configure_logging(settings.log_level)
    app = FastAPI(
        title="Signalhub",
        version=__version__,
        description="Stock signals graded by indicators and a model, delivered to each user's channels.",
        openapi_tags=OPENAPI_TAGS,
    )
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_request_body_bytes)
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_credentials=True,
                           allow_methods=["*"], allow_headers=["*"])
    install_error_handlers(app)
    for router in (health_router, auth_router, users_router, watchlists_router, screening_router,
                   indicators_router, market_data_router, tasks_router, signals_router, recommendations_router,
                   alerts_router, notifications_router, portfolios_router, simulations_router, ops_router,
                   trading_router):
        app.include_router(router)
    if settings.metrics_enabled:
        app.include_router(metrics_router)
    # Added last, so it is the outermost: it sees every request, including ones other middleware refuse.
    app.add_middleware(HttpMetricsMiddleware)
    # Outermost of all: every log line of the request, whichever layer writes it, carries its correlation id.
    app.add_middleware(CorrelationIdMiddleware)
    return app


app = create_app()
