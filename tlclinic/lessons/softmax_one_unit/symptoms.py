"""What lesson 01 reads off a classifier: its loss and labels as compiled, and the broken head's symptoms."""
from __future__ import annotations

import numpy as np

from ...symptoms import FLOAT32_TOLERANCE, accuracy, distinct_values, positive_probability
from ...training import Run


def loss_of(model) -> tuple[str, bool]:
    """(name, from_logits) of a compiled model's loss, read from its compile config."""
    loss = (model.get_compile_config() or {}).get("loss")
    if isinstance(loss, dict):  # a Loss object, or a loss function by name ({"config": "binary_crossentropy"})
        config = loss.get("config") or {}
        if isinstance(config, str):
            return config.lower(), False
        return str(config.get("name") or loss.get("class_name", "")).lower(), bool(config.get("from_logits"))
    return str(getattr(loss, "__name__", loss)).lower(), False


def labels_for(model, labels: np.ndarray) -> np.ndarray:
    """The labels 0/1 as the model's loss wants them: one-hot for a categorical (not sparse) loss on two units."""
    name, _ = loss_of(model)
    if model.output_shape[-1] == 2 and name.startswith("categorical"):
        return np.eye(2, dtype="float32")[np.asarray(labels, dtype=int)]
    return labels


def probabilities(model, outputs: np.ndarray) -> np.ndarray:
    """The model's outputs as probabilities: a loss with ``from_logits=True`` means the outputs are logits."""
    if not loss_of(model)[1]:
        return outputs
    z = np.asarray(outputs, dtype=np.float64)
    if z.shape[-1] == 1:
        return 1 / (1 + np.exp(-z))
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


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
