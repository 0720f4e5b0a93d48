"""Settings come from the environment; a default secret is refused outside development."""

from __future__ import annotations

import subprocess
import sys

import pytest
from pydantic import ValidationError

from signalhub.core.config import DEFAULT_SECRET_KEY, Settings


@pytest.mark.parametrize("environment", ["production", "test"])
def test_default_or_short_secret_refused_outside_development(environment):
    with pytest.raises(ValidationError, match="SECRET_KEY"):
        Settings(environment=environment, secret_key=DEFAULT_SECRET_KEY)
    with pytest.raises(ValidationError, match="SECRET_KEY"):
        Settings(environment=environment, secret_key="short")
    assert Settings(environment=environment, secret_key="x" * 40).secret_key == "x" * 40


def test_development_accepts_default_secret_and_embedded_defaults():
    settings = Settings(_env_file=None, environment="development", secret_key=DEFAULT_SECRET_KEY,
                        database_url="sqlite:///x.db", redis_url=None, celery_broker_url=None,
                        celery_result_backend=None)
    assert settings.broker_url.startswith("sqla+sqlite:///")
    assert settings.result_backend.startswith("db+sqlite:///")
    with_redis = Settings(_env_file=None, redis_url="redis://localhost:6379/0", celery_broker_url=None,
                          celery_result_backend=None)
    assert with_redis.broker_url == with_redis.result_backend == "redis://localhost:6379/0"


def test_app_refuses_to_start_in_production_with_default_secret(tmp_path):
    env = {"ENVIRONMENT": "production", "SECRET_KEY": DEFAULT_SECRET_KEY, "PATH": "/usr/bin:/bin",
           "DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"}
    proc = subprocess.run([sys.executable, "-c", "import signalhub.main"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert "SECRET_KEY must be set" in proc.stderr


def test_env_example_documents_every_setting_and_loads(tmp_path, monkeypatch):
    import re

    from signalhub.core.config import PROJECT_ROOT

    text = (PROJECT_ROOT / ".env.example").read_text()
    documented = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", text, re.M))
    assert {name.upper() for name in Settings.model_fields} <= documented
    # Loading the example as a .env (empty values meaning "use the default") gives a working config.
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text(text)
    for name in documented:
        monkeypatch.delenv(name, raising=False)
    settings = Settings()
    assert settings.database_url.startswith("sqlite:///") and settings.redis_url is None
