"""``examine``: ``diagnose`` a compiled model, then train it with a ``Doctor`` watching, for one combined report."""
from __future__ import annotations

import warnings

import keras
import numpy as np

from .callback import Doctor
from .findings import Report
from .static import diagnose


def examine(model: keras.Model, x, y, x_val, y_val, epochs: int = 3, batch_size: int = 32,
            seed: int = 0) -> Report:
    """``diagnose`` the compiled model, train it for ``epochs`` with a ``Doctor`` on ``(x_val, y_val)``, and
    return the combined report.

    The training order is one NumPy permutation under ``seed`` (``shuffle=False``), and ``seed`` seeds
    Keras's generators, so the same call gives the same report run to run on the same kernels.
    """
    static = diagnose(model, x, y)
    doctor = Doctor(x_val, y_val, static=static)
    keras.utils.set_random_seed(seed)
    y = np.asarray(y)
    order = np.random.default_rng(seed).permutation(len(y))
    with warnings.catch_warnings():  # Keras's warning of a softmax over one unit: the report quotes it, once
        warnings.filterwarnings("ignore", message="You are using a softmax over axis")
        model.fit(keras.tree.map_structure(lambda a: np.asarray(a)[order], x), y[order], epochs=epochs,
                  batch_size=batch_size, shuffle=False, verbose=0, callbacks=[doctor])
    report = doctor.report
    report.measurements.update(static.measurements)
    return report
