"""What lesson 01 reads off a classifier: the broken head's symptoms."""
from __future__ import annotations

import numpy as np

from ...symptoms import FLOAT32_TOLERANCE, accuracy, distinct_values, positive_probability
from ...training import Run


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
        "distinct_predictions": distinct_values(final),
        "all_predictions_one": bool(all(np.all(np.abs(p - 1.0) <= FLOAT32_TOLERANCE) for p in probs)),
        "first_loss": float(loss[0]),
        "last_loss": float(loss[-1]),
    }
