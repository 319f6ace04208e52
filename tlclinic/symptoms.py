"""Numbers read off a trained head that more than one lesson uses, with the tolerance float32 justifies."""
from __future__ import annotations

from typing import TYPE_CHECKING

import keras
import numpy as np

if TYPE_CHECKING:
    from .training import Run


# Two float32 results that should be equal differ by a few units in the last place, depending on the order in
# which the CPU's kernels (oneDNN or Eigen) sum: near 1.0 one unit is 6e-8, so 1e-6 leaves a margin of 16 units
# and is still far below any difference a trained head makes on purpose.
FLOAT32_TOLERANCE = 1e-6


def loss_reads_logits() -> bool:
    """Whether this Keras backend's cross-entropy reads the logits behind a sigmoid or softmax output: the one
    difference between backends that changes what a lesson or the doctor sees.

    On TensorFlow, Keras 3 computes a cross-entropy from the input of the sigmoid or softmax op that made the
    output (for numerical stability; with ``from_logits=True`` it takes those logits back, and warns).  JAX and
    PyTorch compute it from the output itself, clipped to ``[eps, 1 - eps]``.  So a softmax over one unit, whose
    output is 1.0 whatever its input, shows a falling loss on TensorFlow and a flat one, ``-log(eps)`` on every
    class-0 label, on the others; and a sigmoid output with ``from_logits=True`` trains on TensorFlow only.
    """
    return keras.backend.backend() == "tensorflow"


def clipped_label_loss() -> float:
    """A cross-entropy's loss on one label whose predicted probability is 0, as JAX and PyTorch compute it from
    the output clipped to ``[eps, 1 - eps]`` in float32, where ``1 - eps`` rounds to ``1 - 1.19e-7``: 15.94."""
    return float(-np.log(1 - np.float32(1 - keras.config.epsilon())))


def distinct_values(values, tolerance: float = FLOAT32_TOLERANCE) -> int:
    """How many different values ``values`` holds, values closer than ``tolerance`` counted as one (NaN ignored)."""
    v = np.sort(np.asarray(values, dtype=np.float64).ravel())
    v = v[np.isfinite(v)]
    return int(len(v) and 1 + np.count_nonzero(np.diff(v) > tolerance))


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
    """Share of examples whose predicted class is the label: probability above 0.5 for one unit, the larger of
    two units; NaN counts as wrong."""
    outputs = np.asarray(outputs, dtype=np.float64)
    if outputs.ndim == 2 and outputs.shape[1] == 2:
        predicted = np.where(np.isfinite(outputs).all(axis=1), np.argmax(outputs, axis=1), -1)
    else:
        probs = positive_probability(outputs)
        predicted = np.where(np.isfinite(probs), probs > 0.5, -1)
    return float(np.mean(predicted == np.asarray(labels).ravel()))


def huber(predictions: np.ndarray, targets: np.ndarray, delta: float = 0.5) -> float:
    """Keras's Huber loss of predictions against targets: question 002's loss, whatever the head compiled with."""
    loss = keras.losses.Huber(delta=delta)(np.asarray(targets, "float32").reshape(-1, 1),
                                           np.asarray(predictions, "float32").reshape(-1, 1))
    return float(keras.ops.convert_to_numpy(loss))


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
