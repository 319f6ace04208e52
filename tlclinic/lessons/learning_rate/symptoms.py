"""What lesson 03 reads off a head trained at some learning rate: its dead hidden units."""
from __future__ import annotations

import keras
import numpy as np


def dead_relu_fraction(model: keras.Model, x: np.ndarray) -> float:
    """Share of the hidden relu units (of ``Dense`` layers) whose output is 0 for every example of ``x``.

    A relu's 0 is exact (``max(0, z)``) whichever kernels computed ``z``, so no tolerance is needed.

    Such a unit passes no gradient back for any of those inputs: it has stopped learning, and unless the
    layers below it move it back (they rarely do once many units are dead) it never comes back.
    """
    hidden = [layer for layer in model.layers[:-1]
              if isinstance(layer, keras.layers.Dense) and getattr(layer.activation, "__name__", "") == "relu"]
    if not hidden:
        return 0.0
    outputs = keras.Model(model.input, [layer.output for layer in hidden])(x, training=False)
    dead = [np.all(keras.ops.convert_to_numpy(out) == 0, axis=0) for out in outputs]
    return float(np.concatenate(dead).mean())
