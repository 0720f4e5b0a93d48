"""App factory: settings, routers, error handlers and middleware in one place."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from signalhub import __version__
from signalhub.auth.router import router as auth_router
from signalhub.core.config import get_settings
from signalhub.core.errors import install_error_handlers
from signalhub.core.logging import configure_logging
from signalhub.core.middleware import BodySizeLimitMiddleware
from signalhub.health.router import router as health_router
from signalhub.users.router import router as users_router

OPENAPI_TAGS = [
    {"name": "auth", "description": "Log in (OAuth2 password flow) and refresh tokens."},
    {"name": "users", "description": "Registration and your own profile."},
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
    for router in (health_router, auth_router, users_router):
        app.include_router(router)
    return app


app = create_app()
