"""The trained model as one object: estimators, their metadata, loading and vectorised prediction."""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import sklearn
from sklearn.base import BaseEstimator, TransformerMixin

logger = logging.getLogger(__name__)

ARTIFACT_FORMAT = 1
MODEL_FILE = "model.joblib"
METADATA_FILE = "model.json"
DEFAULT_ARTIFACT_DIR = Path(__file__).resolve().parent / "artifacts"


class ArtifactError(Exception):
    """The artifact is missing, unreadable or inconsistent with its metadata."""


class Clipper(TransformerMixin, BaseEstimator):
    """Clip each column to its training quantiles, so one extreme bar cannot dominate a linear model."""

    def __init__(self, lower: float = 0.005, upper: float = 0.995) -> None:
        self.lower = lower
        self.upper = upper

    def fit(self, X: np.ndarray, y: Any = None) -> Clipper:
        """Learn the per-column clipping bounds."""
        X = np.asarray(X, dtype=float)
        self.low_ = np.quantile(X, self.lower, axis=0)
        self.high_ = np.quantile(X, self.upper, axis=0)
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        """Clip to the learned bounds."""
        return np.clip(np.asarray(X, dtype=float), self.low_, self.high_)


@dataclass
class Predictions:
    """Vectorised model output for n rows."""

    p_up: np.ndarray
    predicted_return: np.ndarray

    @property
    def up(self) -> np.ndarray:
        """True where the predicted direction is up (ties go up)."""
        return self.p_up >= 0.5

    @property
    def confidence(self) -> np.ndarray:
        """Probability of the predicted direction, in [0.5, 1]."""
        return np.maximum(self.p_up, 1.0 - self.p_up)


@dataclass
class TrainedModel:
    """A direction classifier, a map from P(up) to expected return, and the metadata describing both."""

    classifier: Any
    return_map: Any
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def version(self) -> str:
        """The model version string, e.g. `v1-20250808-1a2b3c4d`."""
        return str(self.metadata["model_version"])

    @property
    def features(self) -> list[str]:
        """Feature names in the order the estimators expect."""
        return list(self.metadata["features"])

    @property
    def horizon(self) -> int:
        """Bars ahead the model predicts."""
        return int(self.metadata["horizon"])

    @property
    def timeframe(self) -> str:
        """The bar interval the model was trained on."""
        return str(self.metadata["timeframe"])

    @property
    def symbols(self) -> frozenset[str]:
        """Tickers that contributed training rows."""
        return frozenset(self.metadata["symbols"])

    def predict(self, X: np.ndarray) -> Predictions:
        """Predict n rows at once; columns in `features` order."""
        X = np.asarray(X, dtype=float)
        p_up = self.classifier.predict_proba(X)[:, 1]
        predicted_return = np.asarray(self.return_map.predict(p_up), dtype=float)
        return Predictions(p_up=p_up, predicted_return=predicted_return)

    def save(self, directory: Path) -> tuple[Path, Path]:
        """Write `model.joblib` and `model.json` into `directory`."""
        directory.mkdir(parents=True, exist_ok=True)
        model_path, meta_path = directory / MODEL_FILE, directory / METADATA_FILE
        payload = {"format": ARTIFACT_FORMAT, "model_version": self.version, "features": self.features,
                   "classifier": self.classifier, "return_map": self.return_map}
        joblib.dump(payload, model_path, compress=3)
        meta_path.write_text(json.dumps(self.metadata, indent=2, sort_keys=False, allow_nan=False) + "\n")
        return model_path, meta_path

    @classmethod
    def load(cls, directory: Path) -> TrainedModel:
        """Read an artifact directory; raise `ArtifactError` if anything is missing or inconsistent."""
        model_path, meta_path = directory / MODEL_FILE, directory / METADATA_FILE
        for path in (model_path, meta_path):
            if not path.is_file():
                raise ArtifactError(f"{path} does not exist")
        try:
            metadata = json.loads(meta_path.read_text())
        except (OSError, ValueError) as exc:
            raise ArtifactError(f"{meta_path} is not valid JSON: {exc}") from exc
        required = ("model_version", "features", "horizon", "timeframe", "symbols")
        if not isinstance(metadata, dict) or any(key not in metadata for key in required):
            raise ArtifactError(f"{meta_path} lacks one of {', '.join(required)}")
        try:
            # Our own artifact from the repository or the operator's training run, never user input.
            payload = joblib.load(model_path)
        except Exception as exc:  # a truncated or foreign file can fail in many ways
            raise ArtifactError(f"{model_path} cannot be loaded: {exc}") from exc
        if not isinstance(payload, dict) or payload.get("format") != ARTIFACT_FORMAT:
            raise ArtifactError(f"{model_path} is not a format-{ARTIFACT_FORMAT} model artifact")
        if payload.get("model_version") != metadata["model_version"] or payload.get("features") != metadata["features"]:
            raise ArtifactError(f"{model_path} and {meta_path} describe different models")
        classifier, return_map = payload.get("classifier"), payload.get("return_map")
        if not hasattr(classifier, "predict_proba") or not hasattr(return_map, "predict"):
            raise ArtifactError(f"{model_path} holds no usable estimators")
        trained_with = metadata.get("libraries", {}).get("scikit-learn")
        if trained_with and trained_with != sklearn.__version__:
            logger.warning("model trained with scikit-learn %s, running %s", trained_with, sklearn.__version__)
        model = cls(classifier=classifier, return_map=return_map, metadata=metadata)
        probe = model.predict(np.zeros((1, len(model.features))))
        if not (math.isfinite(float(probe.p_up[0])) and math.isfinite(float(probe.predicted_return[0]))):
            raise ArtifactError(f"{model_path} predicts non-finite values")
        return model
