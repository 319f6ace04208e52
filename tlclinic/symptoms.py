"""Measured symptoms: the numbers a lesson reads off a trained head."""
from __future__ import annotations

import numpy as np

from .training import Run


def positive_probability(outputs: np.ndarray) -> np.ndarray:
    """The predicted probability of class 1 from a 1-unit (sigmoid or softmax) or 2-unit output."""
    outputs = np.asarray(outputs, dtype=np.float64)
    if outputs.ndim == 1:
        return outputs
    if outputs.shape[-1] == 1:
        return outputs[:, 0]
    if outputs.shape[-1] == 2:
        return outputs[:, 1]
    raise ValueError(f"a binary classifier has 1 or 2 outputs, this one has {outputs.shape[-1]}")


def accuracy(outputs: np.ndarray, labels: np.ndarray) -> float:
    """Share of examples whose predicted class (probability above 0.5) is the label; NaN counts as wrong."""
    return float(np.mean((positive_probability(outputs) > 0.5) == (np.asarray(labels).ravel() == 1)))


def classifier_symptoms(run: Run) -> dict:
    """What the broken classifier shows: constant predictions, accuracy at the class prior, a moving loss."""
    probs = [positive_probability(p) for p in run.val_predictions]
    final = probs[-1]
    loss = run.history["loss"]
    return {
        "positive_share": float(np.mean(run.val_targets == 1)),
        "val_accuracy": [accuracy(p, run.val_targets) for p in run.val_predictions],
        "prediction_min": float(np.nanmin(final)) if np.isfinite(final).any() else float("nan"),
        "prediction_max": float(np.nanmax(final)) if np.isfinite(final).any() else float("nan"),
        "distinct_predictions": int(len(np.unique(final))),
        "all_predictions_one": bool(all(np.all(p == 1.0) for p in probs)),
        "first_loss": float(loss[0]),
        "last_loss": float(loss[-1]),
    }
