"""Train the direction model on the bundled real history, with purged walk-forward validation.

Validation: calendar test windows of `test_months` from `first_test` to the end of the data. Each fold
trains on every row whose label ends *before* the test window starts (so the last `horizon` bars before
the window are purged and no training label overlaps a test bar), then scores the window. Baselines are
scored on exactly the same test rows. The shipped model is then refit on every labelled row.
"""

from __future__ import annotations

import hashlib
import json
import platform
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import sklearn
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from model_server import dataset
from model_server.features import FEATURE_NAMES, MIN_BARS, RECOMMENDED_BARS, build_features, build_labels
from model_server.model import ARTIFACT_FORMAT, DEFAULT_ARTIFACT_DIR, Clipper, TrainedModel

MODEL_KINDS = ("logreg", "hgb")
QUICK_SP500_TICKERS = 30


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a trained model (and so its version hash)."""

    horizon: int = 5
    model: str = "logreg"
    first_test: str = "2019-07-01"
    test_months: int = 6
    quick: bool = False
    max_train_rows: int | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if self.horizon < 1:
            raise ValueError("horizon must be at least 1 bar")
        if self.model not in MODEL_KINDS:
            raise ValueError(f"model must be one of {', '.join(MODEL_KINDS)}")
        if self.test_months < 1:
            raise ValueError("test_months must be at least 1")


def quick_config(horizon: int = 5, model: str = "logreg") -> TrainConfig:
    """A small run for smoke tests: bundled tickers plus a few S&P 500 ones, yearly test windows."""
    return TrainConfig(horizon=horizon, model=model, quick=True, test_months=12, first_test="2020-01-01")


def make_classifier(kind: str, seed: int = 0) -> Any:
    """A fresh, unfitted direction classifier of the given kind."""
    if kind == "logreg":
        return Pipeline([("clip", Clipper()), ("scale", StandardScaler()),
                         ("logreg", LogisticRegression(C=1.0, max_iter=1000))])
    # Shallow and heavily regularised: on daily returns deeper trees only memorise noise.
    return Pipeline([("clip", Clipper()), ("hgb", HistGradientBoostingClassifier(
        max_iter=150, learning_rate=0.03, max_leaf_nodes=15, min_samples_leaf=1000, l2_regularization=1.0,
        early_stopping=False, random_state=seed))])


def fit_return_map(p_up: np.ndarray, fwd_return: np.ndarray, bins: int = 100) -> IsotonicRegression:
    """Monotone map from P(up) to the median forward return of training rows with about that probability."""
    # The median, not the mean: it is the best point forecast under absolute error, ignores fat tails, and
    # for a calibrated classifier it is positive exactly when P(up) > 0.5, so it agrees with `direction`.
    edges = np.unique(np.quantile(p_up, np.linspace(0.0, 1.0, bins + 1)))
    which = np.clip(np.searchsorted(edges, p_up, side="right") - 1, 0, max(len(edges) - 2, 0))
    grouped = pd.DataFrame({"bin": which, "p": p_up, "r": fwd_return}).groupby("bin")
    table = grouped.agg(p=("p", "mean"), r=("r", "median"), n=("r", "size"))
    return IsotonicRegression(out_of_bounds="clip", increasing=True).fit(table["p"], table["r"],
                                                                        sample_weight=table["n"])


def load_training_bars(config: TrainConfig) -> tuple[pd.DataFrame, list[Path]]:
    """The bundled bars the config trains on, and the files they came from."""
    bars = dataset.load_bundled_bars()
    files = [*dataset.seed_files(), dataset.SP500_PATH]
    if config.quick:
        seed_tickers = {p.stem for p in dataset.seed_files()}
        others = sorted(set(bars["ticker"]) - seed_tickers)
        step = max(1, len(others) // QUICK_SP500_TICKERS)
        keep = seed_tickers | set(others[::step][:QUICK_SP500_TICKERS])
        bars = bars[bars["ticker"].isin(keep)].reset_index(drop=True)
    return bars, files


def build_dataset(bars: pd.DataFrame, horizon: int) -> pd.DataFrame:
    """Rows with every feature and a known label; plus the past `horizon`-bar return for the baseline."""
    bars = bars.sort_values(["ticker", "ts"], kind="stable").reset_index(drop=True)
    features = build_features(bars)
    labels = build_labels(bars, horizon)
    frame = bars[["ticker", "ts"]].copy()
    past = bars.groupby("ticker", sort=False)["close"].shift(horizon)
    frame["past_return_h"] = bars["close"] / past - 1.0
    data = pd.concat([frame, features, labels], axis=1)
    complete = data[FEATURE_NAMES].notna().all(axis=1) & data["direction"].notna()
    return data[complete].sort_values(["ts", "ticker"], kind="stable").reset_index(drop=True)


def calendar_windows(first_test: str, test_months: int,
                     last_ts: pd.Timestamp) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """Consecutive [start, end) calendar windows from `first_test` until past `last_ts`."""
    windows = []
    start = pd.Timestamp(first_test)
    while start <= last_ts:
        end = start + pd.DateOffset(months=test_months)
        windows.append((start, end))
        start = end
    return windows


def _iso(ts: Any) -> str:
    return pd.Timestamp(ts).date().isoformat()


def _accuracy(pred_up: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(pred_up == (y == 1))) if len(y) else float("nan")


def score_rows(rows: pd.DataFrame, p_up: np.ndarray, predicted_return: np.ndarray,
               majority_up: np.ndarray) -> dict[str, Any]:
    """Model accuracy, AUC, naive baselines and predicted-return quality, all on the same rows."""
    y = rows["direction"].to_numpy()
    fwd = rows["fwd_return"].to_numpy()
    ic_defined = len(fwd) > 2 and np.std(predicted_return) > 0 and np.std(fwd) > 0
    return {
        "rows": len(rows),
        "up_rate": float(y.mean()),
        "accuracy": _accuracy(p_up >= 0.5, y),
        "auc": float(roc_auc_score(y, p_up)) if 0 < y.sum() < len(y) else None,
        "brier": float(np.mean((p_up - y) ** 2)),
        "baselines": {
            "always_up": _accuracy(np.ones(len(y), dtype=bool), y),
            "last_bar_direction": _accuracy(rows["ret_1"].to_numpy() > 0, y),
            "last_horizon_direction": _accuracy(rows["past_return_h"].to_numpy() > 0, y),
            "train_majority": _accuracy(majority_up, y),
        },
        "predicted_return": {
            "ic": float(np.corrcoef(predicted_return, fwd)[0, 1]) if ic_defined else None,
            "sign_accuracy": _accuracy(predicted_return > 0, y),
            "mae": float(np.mean(np.abs(predicted_return - fwd))),
            "mae_zero": float(np.mean(np.abs(fwd))),
        },
    }


def walk_forward(data: pd.DataFrame, config: TrainConfig,
                 progress: Callable[[str], None] = lambda _: None) -> dict[str, Any]:
    """Purged walk-forward validation; per-fold and overall out-of-sample scores."""
    rng = np.random.default_rng(config.seed)
    folds: list[dict[str, Any]] = []
    tested: list[pd.DataFrame] = []
    last_ts = data["ts"].max()
    for start, end in calendar_windows(config.first_test, config.test_months, last_ts):
        train = data[data["label_end_ts"] < start]
        test = data[(data["ts"] >= start) & (data["ts"] < end)]
        if len(test) == 0 or train["direction"].nunique() < 2 or len(train) < 1000:
            continue
        if config.max_train_rows and len(train) > config.max_train_rows:
            train = train.iloc[np.sort(rng.choice(len(train), config.max_train_rows, replace=False))]
        t0 = time.perf_counter()
        model = make_classifier(config.model, config.seed).fit(train[FEATURE_NAMES].to_numpy(), train["direction"])
        return_map = fit_return_map(model.predict_proba(train[FEATURE_NAMES].to_numpy())[:, 1],
                                    train["fwd_return"].to_numpy())
        p_up = model.predict_proba(test[FEATURE_NAMES].to_numpy())[:, 1]
        predicted_return = return_map.predict(p_up)
        majority = bool(train["direction"].mean() >= 0.5)
        index = len(folds)
        fold = {
            "fold": index,
            "train_rows": len(train),
            "train_first_ts": _iso(train["ts"].min()),
            "train_last_ts": _iso(train["ts"].max()),
            "train_last_label_end_ts": _iso(train["label_end_ts"].max()),
            "test_first_ts": _iso(test["ts"].min()),
            "test_last_ts": _iso(test["ts"].max()),
            "test_tickers": int(test["ticker"].nunique()),
            "train_majority": "up" if majority else "down",
            "fit_seconds": round(time.perf_counter() - t0, 2),
        }
        fold |= score_rows(test, p_up, predicted_return, np.full(len(test), majority))
        folds.append(fold)
        tested.append(test.assign(fold=index, p_up=p_up, predicted_return=predicted_return, majority_up=majority))
        progress(f"fold {index}: test {fold['test_first_ts']}..{fold['test_last_ts']} "
                 f"accuracy {fold['accuracy']:.4f} (always up {fold['baselines']['always_up']:.4f})")
    if not folds:
        raise ValueError("no walk-forward fold has both training and test rows; check first_test")
    oos = pd.concat(tested, ignore_index=True)
    overall = score_rows(oos, oos["p_up"].to_numpy(), oos["predicted_return"].to_numpy(),
                         oos["majority_up"].to_numpy())
    bundled = {p.stem for p in dataset.seed_files()}
    per_ticker = {}
    for ticker, rows in oos[oos["ticker"].isin(bundled)].groupby("ticker", sort=True):
        per_ticker[str(ticker)] = score_rows(rows, rows["p_up"].to_numpy(), rows["predicted_return"].to_numpy(),
                                             rows["majority_up"].to_numpy())
    return {
        "scheme": (f"expanding-window walk-forward over calendar test windows of {config.test_months} months "
                   f"from {config.first_test}; training rows are only those whose {config.horizon}-bar label "
                   f"ends before the test window starts (purge/embargo of {config.horizon} bars)"),
        "embargo_bars": config.horizon,
        "baseline_definitions": {
            "always_up": "predict up for every row",
            "last_bar_direction": "sign of the last 1-bar return (up if > 0)",
            "last_horizon_direction": f"sign of the last {config.horizon}-bar return (up if > 0)",
            "train_majority": "the majority class of the fold's training rows",
        },
        "overall": overall,
        "folds": folds,
        "per_ticker": per_ticker,
    }


def _fingerprint(files: list[Path], bars: pd.DataFrame | None) -> str:
    if bars is not None:
        return hashlib.sha256(pd.util.hash_pandas_object(bars, index=False).to_numpy().tobytes()).hexdigest()
    return dataset.data_fingerprint(files)


def train(config: TrainConfig, output_dir: Path | None = DEFAULT_ARTIFACT_DIR, bars: pd.DataFrame | None = None,
          progress: Callable[[str], None] = lambda _: None) -> TrainedModel:
    """Validate walk-forward, refit on all rows, and (unless `output_dir` is None) write the artifact."""
    started = time.perf_counter()
    files: list[Path] = []
    if bars is None:
        bars, files = load_training_bars(config)
    data = build_dataset(bars, config.horizon)
    progress(f"{len(data)} complete rows for {data['ticker'].nunique()} tickers "
             f"({_iso(data['ts'].min())}..{_iso(data['ts'].max())})")
    validation = walk_forward(data, config, progress)

    final = data
    if config.max_train_rows and len(final) > config.max_train_rows:
        rng = np.random.default_rng(config.seed)
        final = final.iloc[np.sort(rng.choice(len(final), config.max_train_rows, replace=False))]
    X = final[FEATURE_NAMES].to_numpy()
    classifier = make_classifier(config.model, config.seed).fit(X, final["direction"])
    return_map = fit_return_map(classifier.predict_proba(X)[:, 1], final["fwd_return"].to_numpy())

    describe = {"logreg": "logistic regression (quantile clipping, standardisation, L2, C=1)",
                "hgb": "histogram gradient boosting (150 trees, 15 leaves, min leaf 1000)"}[config.model]
    method = {
        "kind": config.model,
        "direction": describe,
        "predicted_return": ("median forward return of training rows in the same P(up) percentile bin "
                             "(100 bins), made monotone in P(up) by isotonic regression"),
    }
    last_ts = pd.Timestamp(final["ts"].max())
    fingerprint = _fingerprint(files, None if files else bars)
    # Any change of data, settings, features or method (down to estimator parameters) changes the version.
    digest = hashlib.sha256(json.dumps({
        "data": fingerprint, "config": asdict(config), "features": FEATURE_NAMES, "format": ARTIFACT_FORMAT,
        "method": method, "estimator": repr(make_classifier(config.model, config.seed)),
    }, sort_keys=True).encode()).hexdigest()[:8]
    version = f"v1-{last_ts:%Y%m%d}-{digest}"
    metadata = {
        "format": ARTIFACT_FORMAT,
        "model_version": version,
        "created_at": pd.Timestamp.now(tz="UTC").isoformat(timespec="seconds"),
        "model": method,
        "timeframe": "1d",
        "horizon": config.horizon,
        "features": FEATURE_NAMES,
        "min_bars": MIN_BARS,
        "recommended_bars": RECOMMENDED_BARS,
        "training_window": {
            "first_ts": _iso(final["ts"].min()),
            "last_ts": _iso(last_ts),
            "last_label_end_ts": _iso(final["label_end_ts"].max()),
            "rows": len(final),
            "tickers": int(final["ticker"].nunique()),
            "up_rate": float(final["direction"].mean()),
        },
        "symbols": sorted(final["ticker"].unique().tolist()),
        "data": {
            "sources": [str(p.relative_to(dataset.PROJECT_ROOT)) for p in files] or ["<in-memory frame>"],
            "fingerprint": fingerprint,
            "bars": len(bars),
            "quick_subset": config.quick,
            "max_train_rows": config.max_train_rows,
        },
        "config": asdict(config),
        "validation": validation,
        "libraries": {"python": platform.python_version(), "scikit-learn": sklearn.__version__,
                      "numpy": np.__version__, "pandas": pd.__version__, "joblib": joblib.__version__},
    }
    model = TrainedModel(classifier=classifier, return_map=return_map, metadata=metadata)
    metadata["training_seconds"] = round(time.perf_counter() - started, 1)
    if output_dir is not None:
        model_path, _ = model.save(output_dir)
        progress(f"wrote {model_path} ({model_path.stat().st_size / 1024:.0f} KiB) version {version}")
    return model


def _pct(value: float | None) -> str:
    return "   n/a" if value is None else f"{value * 100:6.2f}"


def format_report(metadata: dict[str, Any]) -> str:
    """The walk-forward metrics as a plain-text table (accuracies in %)."""
    v = metadata["validation"]
    h = metadata["horizon"]
    head = (f"{'':>10} {'rows':>7} {'up%':>6} {'model':>6} {'AUC':>6} {'alw-up':>6} {'last1':>6} "
            f"{f'last{h}':>6} {'major':>6} {'retIC':>6}")

    def line(label: str, s: dict[str, Any]) -> str:
        b = s["baselines"]
        ic = s["predicted_return"]["ic"]
        auc = "   n/a" if s["auc"] is None else f"{s['auc']:6.3f}"
        return (f"{label:>10} {s['rows']:>7} {_pct(s['up_rate'])} {_pct(s['accuracy'])} {auc} "
                f"{_pct(b['always_up'])} {_pct(b['last_bar_direction'])} {_pct(b['last_horizon_direction'])} "
                f"{_pct(b['train_majority'])} {'   n/a' if ic is None else f'{ic:6.3f}'}")

    out = [f"model {metadata['model_version']} ({metadata['model']['kind']}), horizon {h} bars, "
           f"{metadata['training_window']['tickers']} tickers, trained on "
           f"{metadata['training_window']['first_ts']}..{metadata['training_window']['last_ts']}",
           v["scheme"], "",
           "folds (test window; train rows end before it):"]
    for f in v["folds"]:
        out.append(f"  fold {f['fold']}: train {f['train_first_ts']}..{f['train_last_ts']} "
                   f"(labels to {f['train_last_label_end_ts']}, {f['train_rows']} rows) | "
                   f"test {f['test_first_ts']}..{f['test_last_ts']} ({f['test_tickers']} tickers)")
    out += ["", "out-of-sample directional accuracy (%), baselines on the same rows:", head]
    out += [line(f"fold {f['fold']}", f) for f in v["folds"]]
    out.append(line("ALL", v["overall"]))
    if v["per_ticker"]:
        out += ["", "bundled tickers (their out-of-sample rows over all folds):", head]
        out += [line(t, s) for t, s in v["per_ticker"].items()]
    out += ["", f"last{h}/last1 = sign of the last {h}-bar/1-bar return; major = training-window majority class; "
                "retIC = correlation of predicted_return with the realised forward return"]
    return "\n".join(out)


def main(config: TrainConfig | None = None, output_dir: Path | None = DEFAULT_ARTIFACT_DIR) -> TrainedModel:
    """Train with progress on stdout and print the report."""
    model = train(config or TrainConfig(), output_dir, progress=print)
    print(format_report(model.metadata))
    return model


if __name__ == "__main__":
    main()
