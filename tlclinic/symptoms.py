"""Numbers read off a trained head that more than one lesson uses, with the tolerance float32 justifies."""
from __future__ import annotations

import keras
import numpy as np


# Two float32 results that should be equal differ by a few units in the last place, depending on the order in
# which the CPU's kernels (oneDNN or Eigen) sum: near 1.0 one unit is 6e-8, so 1e-6 leaves a margin of 16 units
# and is still far below any difference a trained head makes on purpose.
FLOAT32_TOLERANCE = 1e-6


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
