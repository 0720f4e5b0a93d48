"""`signalhub train-model`: train the model server's direction model and print its walk-forward metrics.

Mount with `app.command("train-model")(train_model_command)` or `app.add_typer(cli_model.app,
name="train-model")`; `python -m signalhub.cli_model` runs it on its own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="Train the model server's model.", invoke_without_command=True, no_args_is_help=False)


def train_model_command(
    horizon: Annotated[int, typer.Option(min=1, max=60, help="Bars ahead to predict.")] = 5,
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Artifact directory (default: backend/model_server/artifacts).")] = None,
    quick: Annotated[bool, typer.Option(
        "--quick", help="Small smoke run: bundled tickers plus 30 S&P 500 ones, yearly test windows.")] = False,
    model: Annotated[str, typer.Option(help="Classifier: logreg (shipped) or hgb (for comparison).")] = "logreg",
    max_train_rows: Annotated[int | None, typer.Option(
        min=1000, help="Subsample training rows per fit to at most this many (default: all).")] = None,
) -> None:
    """Run purged walk-forward validation, refit on all data, write model.joblib + model.json."""
    from model_server.model import DEFAULT_ARTIFACT_DIR
    from model_server.train import MODEL_KINDS, TrainConfig, format_report, quick_config, train

    if model not in MODEL_KINDS:
        raise typer.BadParameter(f"must be one of {', '.join(MODEL_KINDS)}", param_hint="--model")
    config = quick_config(horizon, model) if quick else TrainConfig(horizon=horizon, model=model)
    if max_train_rows is not None:
        config = TrainConfig(**{**config.__dict__, "max_train_rows": max_train_rows})
    trained = train(config, output or DEFAULT_ARTIFACT_DIR, progress=typer.echo)
    typer.echo("")
    typer.echo(format_report(trained.metadata))
    typer.echo(f"\ntraining took {trained.metadata['training_seconds']} s")


app.callback()(train_model_command)


if __name__ == "__main__":
    app()
