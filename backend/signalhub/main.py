"""App factory: settings, routers, error handlers and middleware in one place."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from signalhub import __version__
from signalhub.alerts.router import router as alerts_router
from signalhub.auth.router import router as auth_router
from signalhub.core.config import get_settings
from signalhub.core.errors import install_error_handlers
from signalhub.core.logging import configure_logging
from signalhub.core.middleware import BodySizeLimitMiddleware
from signalhub.health.router import router as health_router
from signalhub.indicators.router import router as indicators_router
from signalhub.market_data.router import router as market_data_router
from signalhub.notifications.router import router as notifications_router
from signalhub.recommendations.router import router as recommendations_router
from signalhub.screening.router import router as screening_router
from signalhub.signals.router import router as signals_router
from signalhub.tasks.router import router as tasks_router
from signalhub.users.router import router as users_router
from signalhub.watchlists.router import router as watchlists_router

OPENAPI_TAGS = [
    {"name": "auth", "description": "Log in (OAuth2 password flow) and refresh tokens."},
    {"name": "users", "description": "Registration and your own profile."},
    {"name": "stocks", "description": "Known instruments, their bars, and queued price updates."},
    {"name": "indicators", "description": "Stored technical indicators per bar."},
    {"name": "screening", "description": "Latest readings, oversold/overbought screens, correlations."},
    {"name": "watchlist", "description": "The tickers you follow."},
    {"name": "signals", "description": "Graded strategy signals and model prediction accuracy."},
    {"name": "recommendations", "description": "AI recommendations and patterns across tickers."},
    {"name": "tasks", "description": "State of background jobs you started."},
    {"name": "alerts", "description": "Your alert rules: which signals, which channels, quiet hours, digests."},
    {"name": "notifications", "description": "Your channels, inbox (with a live stream) and delivery history."},
    {"name": "admin", "description": "Administrator views."},
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
                   alerts_router, notifications_router):
        app.include_router(router)
    return app


app = create_app()
