"""Operator commands: `signalhub create-admin`, `signalhub migrate`, `signalhub run`."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from signalhub.core.config import PROJECT_ROOT, get_settings

app = typer.Typer(help="Signalhub operator commands.", no_args_is_help=True)


def _alembic_config():
    from alembic.config import Config

    return Config(str(PROJECT_ROOT / "alembic.ini"))


@app.command()
def migrate(revision: str = "head") -> None:
    """Upgrade the database schema to `revision` (default: head)."""
    from alembic import command

    command.upgrade(_alembic_config(), revision)
    typer.echo(f"database migrated to {revision}")


@app.command("create-admin")
def create_admin(
    email: Annotated[str, typer.Option(prompt=True)],
    username: Annotated[str, typer.Option(prompt=True)],
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)],
) -> None:
    """Create an administrator account, or promote an existing user with that e-mail to admin."""
    from signalhub.core.db import session_scope
    from signalhub.core.errors import ConflictError
    from signalhub.models.user import UserRole
    from signalhub.users import repository, service
    from signalhub.users.schemas import UserCreate

    try:
        data = UserCreate(email=email, username=username, password=password)
    except ValidationError as exc:
        for err in exc.errors():
            typer.echo(f"error: {'.'.join(map(str, err['loc']))}: {err['msg']}", err=True)
        raise typer.Exit(2) from exc
    with session_scope() as session:
        existing = repository.get_by_email(session, data.email)
        if existing is not None:
            existing.role = UserRole.ADMIN
            typer.echo(f"user {existing.email} (id {existing.id}) is now an admin")
            return
        try:
            user = service.register(session, data, role=UserRole.ADMIN)
        except ConflictError as exc:
            typer.echo(f"error: {exc.message}", err=True)
            raise typer.Exit(1) from exc
        typer.echo(f"admin {user.email} created with id {user.id}")


def _process_specs(host: str, port: int) -> list[tuple[str, list[str]]]:
    bin_dir = Path(sys.executable).parent
    schedule = str(PROJECT_ROOT / "var" / "celerybeat-schedule")
    return [
        ("api", [str(bin_dir / "uvicorn"), "signalhub.main:app", "--host", host, "--port", str(port)]),
        ("worker", [str(bin_dir / "celery"), "-A", "signalhub.worker", "worker", "--loglevel", "INFO",
                    "--concurrency", "2"]),
        ("beat", [str(bin_dir / "celery"), "-A", "signalhub.worker", "beat", "--loglevel", "INFO",
                  "--schedule", schedule]),
    ]


@app.command()
def run(host: str = "127.0.0.1", port: int = 8000) -> None:
    """Migrate, then run the API, a Celery worker and beat together until Ctrl-C (or one of them exits)."""
    settings = get_settings()
    (PROJECT_ROOT / "var").mkdir(exist_ok=True)
    migrate("head")
    procs: dict[str, subprocess.Popen[bytes]] = {}
    for name, cmd in _process_specs(host, port):
        procs[name] = subprocess.Popen(cmd, cwd=PROJECT_ROOT)  # noqa: S603 - our own executables
    typer.echo(f"signalhub running ({settings.environment}, database {settings.database_url.split(':')[0]}, "
               f"broker {settings.broker_url.split(':')[0]}): http://{host}:{port}/docs; Ctrl-C stops all")

    stopping = False

    def _stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    exit_code = 0
    while not stopping:
        for name, proc in procs.items():
            if proc.poll() is not None:
                typer.echo(f"{name} exited with code {proc.returncode}; stopping the others", err=True)
                exit_code, stopping = proc.returncode or 1, True
                break
        time.sleep(0.5)
    for proc in procs.values():
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 20
    for proc in procs.values():
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
    raise typer.Exit(exit_code)


if __name__ == "__main__":
    app()
