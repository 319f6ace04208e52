"""A learning-rate range test (Smith 2015, fastai's ``lr_find``): raise the rate each step, watch the loss.

Train a fresh head for a short run whose learning rate grows exponentially from ``start`` to ``end``, one
value per batch, and record the loss of every batch.  The loss first barely moves (the rate is too small),
then falls fastest, then blows up.  The suggestion is a tenth of the rate at which the smoothed loss was
lowest: still on the falling part, a safe distance before the blow-up; at most ``ceiling`` when one is given, since
the lowest point of a short, noisy run moves by a decade from one seed (or backend) to the next.
"""
from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np

from ...heads import HeadBuilder


@dataclass
class RangeTest:
    learning_rates: np.ndarray  # one per batch that was trained
    losses: np.ndarray  # each batch's loss, before its update
    smoothed: np.ndarray  # exponentially smoothed losses (bias-corrected)
    suggestion: float  # a tenth of the rate at the lowest smoothed loss (at most the test's ceiling)


def lr_range_test(build: HeadBuilder, train: tuple[np.ndarray, np.ndarray], start: float = 1e-7, end: float = 10.0,
                  steps: int = 100, batch_size: int = 32, seed: int = 0, beta: float = 0.9,
                  blowup: float = 4.0, ceiling: float = np.inf) -> RangeTest:
    """Run the range test on a head built by ``build`` (its optimizer's rate is overridden step by step).

    Stops early once the smoothed loss exceeds ``blowup`` times its lowest value or stops being finite.
    """
    keras.utils.set_random_seed(seed)
    x, y = train
    model = build(x.shape[1])
    rng = np.random.default_rng(seed)
    rates = start * (end / start) ** (np.arange(steps) / (steps - 1))
    order = np.concatenate([rng.permutation(len(x)) for _ in range(steps * batch_size // len(x) + 1)])
    losses, smoothed, average = [], [], 0.0
    for step, rate in enumerate(rates):
        batch = order[step * batch_size:(step + 1) * batch_size]
        model.optimizer.learning_rate = float(rate)
        loss = float(model.train_on_batch(x[batch], y[batch], return_dict=True)["loss"])
        model.reset_metrics()
        average = beta * average + (1 - beta) * loss
        losses.append(loss)
        smoothed.append(average / (1 - beta ** (step + 1)))
        if not np.isfinite(smoothed[-1]) or smoothed[-1] > blowup * min(smoothed):
            break
    smoothed_array = np.array(smoothed)
    best = int(np.nanargmin(np.where(np.isfinite(smoothed_array), smoothed_array, np.inf)))
    n = len(losses)
    return RangeTest(rates[:n], np.array(losses), smoothed_array, float(min(rates[best] / 10, ceiling)))
