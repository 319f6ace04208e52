"""What lesson 01 reads off a classifier: the broken head's symptoms."""
from __future__ import annotations

import keras
import numpy as np

from ...symptoms import (FLOAT32_TOLERANCE, accuracy, clipped_label_loss, distinct_values, loss_reads_logits,
                         positive_probability)
from ...training import Run


def flat_loss(targets: np.ndarray) -> float:
    """Binary cross-entropy of a constant prediction 1.0, as Keras clips it: ``-log(eps)`` on every class-0 label."""
    return float(np.mean(targets == 0) * clipped_label_loss())


def loss_behaviour(symptoms: dict) -> str:
    """What the broken head's training loss did, in words, on this backend (``symptoms.loss_reads_logits``)."""
    if loss_reads_logits():
        return (f"loss still falls {symptoms['first_loss']:.3f} -> {symptoms['last_loss']:.3f} "
                "(TensorFlow's cross-entropy reads the logits behind the softmax)")
    return (f"loss flat at {symptoms['last_loss']:.3f} = (1 - share of class 1) * -log(eps) "
            f"(no logits shortcut on {keras.backend.backend()})")


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
