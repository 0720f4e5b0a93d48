"""The bundled real daily history the model is trained on, as one long bar frame."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from model_server.features import BAR_COLUMNS

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SEED_DAILY_DIR = PROJECT_ROOT / "database" / "seed" / "daily"
SP500_PATH = PROJECT_ROOT / "benchmarks" / "data" / "sp500_daily_2018-01-02_2023-06-29.csv.gz"


def seed_files(seed_dir: Path = SEED_DAILY_DIR) -> list[Path]:
    """The per-ticker daily CSVs of the platform's bundled seed (corporate-action files excluded)."""
    return sorted(p for p in seed_dir.glob("*.csv") if not p.name.startswith("corporate_actions"))


def load_seed_bars(seed_dir: Path = SEED_DAILY_DIR) -> pd.DataFrame:
    """The bundled tickers' daily bars, using `close` as the platform stores it (never `adj_close`)."""
    frames = []
    for path in seed_files(seed_dir):
        raw = pd.read_csv(path, usecols=["date", "open", "high", "low", "close", "volume"])
        raw.insert(0, "ticker", path.stem)
        frames.append(raw)
    return _normalise(pd.concat(frames, ignore_index=True))


def load_sp500_bars(path: Path = SP500_PATH) -> pd.DataFrame:
    """The S&P 500 constituents' daily bars (2018-01 to 2023-06) from the benchmark data set."""
    return _normalise(pd.read_csv(path, usecols=["date", "ticker", "open", "high", "low", "close", "volume"]))


def _normalise(raw: pd.DataFrame) -> pd.DataFrame:
    frame = raw.rename(columns={"date": "ts"})
    frame["ts"] = pd.to_datetime(frame["ts"])
    frame["ticker"] = frame["ticker"].astype(str)
    frame = frame[BAR_COLUMNS].dropna(subset=["close"])
    frame = frame[frame["close"] > 0]
    return frame.sort_values(["ticker", "ts"], kind="stable").reset_index(drop=True)


def load_bundled_bars(tickers: Iterable[str] | None = None, *, seed_dir: Path = SEED_DAILY_DIR,
                      sp500_path: Path | None = SP500_PATH) -> pd.DataFrame:
    """Seed tickers plus S&P 500 tickers; a ticker in both comes only from the seed files."""
    seed = load_seed_bars(seed_dir)
    parts = [seed]
    if sp500_path is not None:
        sp500 = load_sp500_bars(sp500_path)
        # The two sources were downloaded at different times, so their split adjustments can differ
        # (NVDA split 10:1 in 2024); splicing them would fake a -90% return. The seed is what the platform serves.
        parts.append(sp500[~sp500["ticker"].isin(set(seed["ticker"]))])
    bars = pd.concat(parts, ignore_index=True)
    if tickers is not None:
        bars = bars[bars["ticker"].isin(set(tickers))]
    return bars.sort_values(["ticker", "ts"], kind="stable").reset_index(drop=True)


def data_fingerprint(paths: Iterable[Path]) -> str:
    """sha256 over the bytes of the given data files, in order."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()
