"""What lesson 02 reads off a steering-angle regressor: the sign of its predictions, its errors, a dead output."""
from __future__ import annotations

import numpy as np

from ...symptoms import huber
from ...training import Run


def output_died(val_predictions: list[np.ndarray]) -> bool:
    """The output unit is dead: every validation prediction is exactly 0 after each of the last two epochs.

    ``val_predictions`` holds a run's validation outputs after each epoch.  A relu output that is 0 for every
    input has zero gradient for every input: from then on no weight of the head changes and the loss repeats
    itself epoch after epoch.  A relu's 0 is exact whichever kernels computed its input.
    """
    return len(val_predictions) >= 2 and all(np.all(p == 0) for p in val_predictions[-2:])


def regression_symptoms(run: Run) -> dict:
    """What a steering-angle regressor shows: the sign of its predictions and its error on each sign of angle."""
    predictions = np.asarray(run.final_predictions, dtype=np.float64).ravel()
    angles = np.asarray(run.val_targets, dtype=np.float64).ravel()
    error = np.abs(predictions - angles)
    negative = angles < 0
    loss = run.history["loss"]
    return {
        "prediction_min": float(predictions.min()),
        "prediction_max": float(predictions.max()),
        "negative_prediction_share": float(np.mean(predictions < 0)),
        "zero_prediction_share": float(np.mean(predictions == 0)),
        "negative_angle_share": float(np.mean(negative)),
        "mae_negative_angles": float(error[negative].mean()),
        "mae_positive_angles": float(error[~negative].mean()),
        "every_negative_keeps_its_size": bool(np.all(error[negative] >= -angles[negative] - 1e-6)),
        "val_huber": huber(predictions, angles),
        "output_died": output_died(run.val_predictions),
        "first_loss": float(loss[0]),
        "last_loss": float(loss[-1]),
    }
