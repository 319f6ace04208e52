"""Training heads on cached features."""
from __future__ import annotations

import dataclasses
import random
import time
from dataclasses import dataclass
from typing import Any, Callable

import keras
import numpy as np
from keras.src.backend.common import global_state
from keras.src.random import seed_generator
from keras.src.utils import rng_utils

from .heap import pad_heap


def seed_keras(seed: int) -> None:
    """``keras.utils.set_random_seed(seed)``, less TensorFlow's own global seed, for a run whose randomness is all
    Keras's and NumPy's: a model's initializers and dropout take their seeds from Python's ``random``, Keras's random
    ops are stateless, and ``fit_shuffled`` draws the order from NumPy; TensorFlow's global seed is never read (a
    ``fit`` that shuffles by itself reads it, on TensorFlow: that one wants ``keras.utils.set_random_seed``).
    Setting it also empties TensorFlow's kernel cache, so that every compiled step is set up anew at its next call:
    about 0.2 s of a run's first batch on a 2-core machine, paid by every choice of a live control and every run a
    check trains.  Same seed, same run (``tests/test_training.py`` compares)."""
    global_state.set_global_attribute(rng_utils.GLOBAL_RANDOM_SEED, seed)
    global_state.set_global_attribute(seed_generator.GLOBAL_SEED_GENERATOR, None)
    random.seed(seed)
    np.random.seed(seed)
    if keras.backend.backend() == "torch":
        import torch

        torch.manual_seed(seed)


def standardize(train: np.ndarray, *others: np.ndarray) -> list[np.ndarray]:
    """Scale every feature to zero mean and unit variance, with the training set's statistics."""
    mean, std = train.mean(axis=0), train.std(axis=0) + 1e-6
    return [(x - mean) / std for x in (train, *others)]


def linear_probe(train: tuple[np.ndarray, np.ndarray], test: tuple[np.ndarray, np.ndarray],
                 epochs: int = 60, seed: int = 0) -> float:
    """Test accuracy of a logistic regression on standardised features (binary labels)."""
    keras.utils.set_random_seed(seed)  # TensorFlow's seed too: its fit shuffles with TensorFlow's random ops
    x_train, x_test = standardize(train[0], test[0])
    model = keras.Sequential([keras.Input(x_train.shape[1:]), keras.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="binary_crossentropy", metrics=["accuracy"])
    model.fit(x_train, train[1], epochs=epochs, batch_size=100, verbose=0)
    return float(model.evaluate(x_test, test[1], verbose=0)[1])


def fit_shuffled(model: keras.Model, x, y, epochs: int, batch_size: int, seed: int = 0,
                 validation_data=None, callbacks=(), verbose: int = 0) -> dict[str, list[float]]:
    """``model.fit`` with each epoch's order drawn from NumPy under ``seed``.

    Keras's own ``shuffle=True`` draws from backend random ops whose state is not
    reset by ``keras.utils.set_random_seed``; shuffling here makes two runs with
    the same seed identical on every backend.  One ``fit`` runs every epoch over batches
    taken from the epoch's permutation (the batches a ``fit`` per epoch on ``x[order]``
    would see, the last one short), which spares a ``fit``'s set-up per epoch.
    """
    rng = np.random.default_rng(seed)
    steps = -(-len(x) // batch_size)

    def batches():
        for _ in range(epochs):
            order = rng.permutation(len(x))
            for step in range(steps):
                taken = order[step * batch_size:(step + 1) * batch_size]
                yield x[taken], y[taken]

    fed = _without_autotuning(batches, x, y) if keras.backend.backend() == "tensorflow" else batches()
    return model.fit(fed, epochs=epochs, steps_per_epoch=steps, shuffle=False, validation_data=validation_data,
                     callbacks=list(callbacks), verbose=verbose).history


def _without_autotuning(batches: Callable, x: np.ndarray, y: np.ndarray):
    """The generator ``batches()`` as a ``tf.data.Dataset`` that tf.data does not autotune.

    Keras reads a generator through ``Dataset.from_generator(...).prefetch(AUTOTUNE)`` on TensorFlow; the end of
    ``fit`` then waits for the autotuning thread to wake: up to 2.5 s after the last epoch, in more than half of
    lesson 03's runs on one core, as long as the run's steps.  Read without it, the run is the same to the bit
    (``tests/test_training.py``)."""
    import tensorflow as tf

    def spec(a: np.ndarray):
        return tf.TensorSpec((None, *a.shape[1:]), tf.as_dtype(a.dtype))

    options = tf.data.Options()
    options.autotune.enabled = False
    return tf.data.Dataset.from_generator(batches, output_signature=(spec(x), spec(y))).with_options(options)


@dataclass
class Run:
    """One head trained on cached features: what the lessons plot and the graders check."""

    model: keras.Model
    history: dict[str, list[float]]  # "loss" and "val_loss" per epoch
    val_predictions: list[np.ndarray]  # the model's outputs on the validation set after each epoch
    val_targets: np.ndarray
    seconds: float
    seed: int = 0  # the seed it was built and trained under
    # The share of the first epoch trained when the run was seen: 1 once that epoch has ended; less for a live
    # view's first picture, drawn after the first few batches (``FIRST_PICTURE_AFTER``) with one entry per series.
    first_epoch_share: float = dataclasses.field(default=1.0, kw_only=True)

    @property
    def final_predictions(self) -> np.ndarray:
        return self.val_predictions[-1]


class _EachEpoch(keras.callbacks.Callback):
    """Calls ``then(history so far)`` after each epoch (after the callbacks before it in the list)."""

    def __init__(self, then: Callable[[dict[str, list[float]]], None]):
        super().__init__()
        self.then, self.history = then, {}

    def on_epoch_end(self, epoch, logs=None):
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(float(value))
        self.then(self.history)


FIRST_PICTURE_AFTER = 2  # batches of the first epoch after which a run growing on screen is first drawn


class FirstPicture(keras.callbacks.Callback):
    """A live view's first picture of a run, before its first epoch ends: after the first ``FIRST_PICTURE_AFTER``
    batches of that epoch (when it has more), ``on_epoch`` gets the run ``so_far(history)`` gives, with one entry
    per series of its history (the mean over those batches as Keras logs it; no validation yet), the model's
    outputs on ``x_val`` then (through ``read(model, outputs)`` when given; none for ``x_val=None``: a lesson whose
    validation outputs cost more than the picture is worth so early), and the share of the epoch trained.
    ``measure_batchnorm_on``: training inputs over which the BatchNorm statistics are measured first
    (``refresh_batchnorm``, which every validation pass does afresh: the run goes on the same)."""

    def __init__(self, on_epoch: Callable[[Run], None], so_far: Callable[[dict[str, list[float]]], Run],
                 x_val: np.ndarray | None, read: Callable | None = None,
                 measure_batchnorm_on: np.ndarray | None = None):
        super().__init__()
        self.on_epoch, self.so_far, self.x_val, self.read = on_epoch, so_far, x_val, read
        self.measure_batchnorm_on, self.drawn = measure_batchnorm_on, False

    def on_train_batch_end(self, batch, logs=None):
        steps = self.params.get("steps") or 0
        if self.drawn or not batch + 1 == FIRST_PICTURE_AFTER < steps:
            return
        self.drawn = True
        model = self.model  # on JAX, this brings the weights of the batches trained so far onto the model
        if self.measure_batchnorm_on is not None:
            refresh_batchnorm(model, self.measure_batchnorm_on)
        run = self.so_far({name: [float(value)] for name, value in (logs or {}).items()})
        outputs = [] if self.x_val is None else [validation_outputs(model, self.x_val, self.read, all_at_once=True)]
        self.on_epoch(dataclasses.replace(run, val_predictions=outputs, first_epoch_share=FIRST_PICTURE_AFTER / steps))


# A whole model is called on images at most this many at a time outside training (``in_chunks``): on all of
# lesson 04's 100 test images at once, its activations held the check's process 170 MB above its training's peak.
IMAGES_AT_ONCE = 32


def in_chunks(call: Callable, x: np.ndarray, at_once: int | None = None) -> np.ndarray:
    """``call(x, training=False)`` as NumPy, ``at_once`` examples at a time, concatenated; by default, on images
    (rank 4) ``IMAGES_AT_ONCE`` at a time, on anything else (a head's features, small) all at once.  What comes
    out is what one call on all of them gives, within float32's rounding: lesson 04's and 05's runs gave the same
    histories and measures to the bit, and validation probabilities the same under oneDNN's kernels, within 6e-8
    under Eigen's and 3.6e-7 on JAX (XLA and Eigen sum a product of 32 rows in another order than one of 100)."""
    at_once = at_once or (IMAGES_AT_ONCE if np.ndim(x) == 4 else max(1, len(x)))
    return np.concatenate([keras.ops.convert_to_numpy(call(x[i:i + at_once], training=False))
                           for i in range(0, len(x), at_once)])


def validation_outputs(model: keras.Model, x_val: np.ndarray, read: Callable | None = None,
                       all_at_once: bool = False, at_once: int | None = None) -> np.ndarray:
    """The model's outputs on ``x_val`` (inference mode, ``in_chunks``), through ``read(model, outputs)`` when
    given.  ``all_at_once``: in one call of the model's compiled prediction step (``predict_on_batch``), for the
    first picture of a run a person waits for: on lesson 04's 100 test images, 0.07 s against 0.17 s for the model
    called eagerly on a 2-core machine, once traced (0.2 s, at a model's first such call: ``live.Experiment.warm``
    pays it before the first click).  ``at_once``: else, that many at a time (``in_chunks``)."""
    outputs = model.predict_on_batch(x_val) if all_at_once else in_chunks(model, x_val, at_once)
    return read(model, outputs) if read else outputs


class _RecordPredictions(keras.callbacks.Callback):
    def __init__(self, x_val: np.ndarray, store: list, read: Callable | None = None, at_once: int | None = None):
        super().__init__()
        self.x_val, self.store, self.read, self.at_once = x_val, store, read, at_once

    def on_epoch_end(self, epoch, logs=None):
        self.store.append(validation_outputs(self.model, self.x_val, self.read, at_once=self.at_once))


def batchnorm_layers(model: keras.Model) -> list:
    """The BatchNormalization layers of ``model``, nested models' included, whose moving statistics training
    updates: not the frozen ones (``trainable=False``), nor those with batch renormalisation."""
    found = []
    for layer in getattr(model, "layers", None) or []:
        if isinstance(layer, keras.layers.BatchNormalization):
            if layer.trainable and not layer.renorm:
                found.append(layer)
        else:
            found += batchnorm_layers(layer)
    return found


def refresh_batchnorm(model: keras.Model, x: np.ndarray) -> int:
    """Set the moving mean and variance of each of ``model``'s BatchNormalization layers (``batchnorm_layers``)
    to the mean and variance of that layer's inputs over all of ``x``; returns how many layers it set.

    Keras's moving averages start at mean 0 and variance 1, and after ``n`` steps at momentum 0.99 still hold
    0.99**n of those starting values: a fifth after 160 steps (5 epochs of 1000 examples at batch 32), enough to
    divide a layer whose activations have a variance of 0.004 to 0.008 by a standard deviation 5 to 7 times too
    large at validation.  Here the statistics the moving averages estimate are measured outright, with the model's
    current weights, in one training-mode pass over ``x`` ("precise BatchNorm"; a longer training's averages
    would settle there).
    Nothing else changes: not the weights, and not the random state of dropout, which is put back, so that a
    training that goes on afterwards takes the same steps as without the refresh.
    """
    norms = batchnorm_layers(model)
    if not norms:
        return 0
    moving = {id(v) for layer in norms for v in (layer.moving_mean, layer.moving_variance)}
    kept = [(v, keras.ops.copy(v)) for v in model.non_trainable_variables]
    momenta = [layer.momentum for layer in norms]
    try:
        for layer in norms:
            layer.momentum = 0.0  # the pass's batch statistics replace the moving ones outright
            for variable in (layer.moving_mean, layer.moving_variance):  # (a NaN kept would stay NaN)
                variable.assign(keras.ops.zeros(variable.shape, variable.dtype))
        model(x, training=True)
    except Exception:
        moving = set()  # the pass failed: put everything back as it was
        raise
    finally:
        for layer, momentum in zip(norms, momenta):
            layer.momentum = momentum
        for variable, value in kept:
            if id(variable) not in moving:
                variable.assign(value)
    return len(norms)


class _RefreshBatchNorm(keras.callbacks.Callback):
    """``refresh_batchnorm(model, x)`` before each validation pass of ``fit``, so that the validation loss and the
    predictions recorded at the end of the epoch both see the measured statistics."""

    def __init__(self, x: np.ndarray):
        super().__init__()
        self.x = x

    def on_test_begin(self, logs=None):
        refresh_batchnorm(self.model, self.x)


class CompiledHeads:
    """Compiled models kept by key, so that training one again does not trace a new training function.

    ``head(key, build, input_dim, seed)`` returns the model kept under ``key`` with the weights (and dropout
    seeds) that ``build`` gives under ``seed`` and the optimizer state of a fresh build, its learning rate
    included: the model a new ``build(input_dim)`` would give, already traced.  ``build`` must give the same
    architecture and optimizer for the same key; the optimizer's learning rate may differ (a variable that the
    traced step reads), so one key serves a sweep of rates.  Seed sweeps, rate sweeps and calibration retrain
    this way.  ``start(key, seed, build)`` does the same for a whole model, which is also slow to build (a
    backbone and its head: a second or more on a 2-core machine, against two to trace it), so the start of each
    key's latest seed is kept and a key asked again at that seed is not built at all.  A run's model is the kept
    one: read it before the key trains again, or keep it ``detached``.
    """

    def __init__(self):
        self._kept: dict = {}  # key -> what build() gave the first time
        self._starts: dict = {}  # key -> (seed, the values of its model's and optimizer's variables at the start)

    def head(self, key, build: Callable[[int], keras.Model], input_dim: int, seed: int) -> keras.Model:
        return self.start(key, seed, lambda: build(input_dim), same_build=False)

    def start(self, key, seed: int, build: Callable[[], Any], model_of: Callable[[Any], keras.Model] = lambda m: m,
              same_build: bool = True) -> Any:
        """What ``build()`` gives under ``seed``: a compiled model, or parts holding one (``model_of(parts)``),
        ready to train from its start and traced once per key.  ``same_build``: ``build`` gives the same model
        every time for the same key and seed, so a key asked again at its latest seed is reset, not built."""
        seed_keras(seed)
        latest = self._starts.get(key)  # kept only beside a kept model
        if same_build and latest is not None and latest[0] == seed:
            values = latest[1]
        else:
            fresh = build()
            model = model_of(fresh)
            if getattr(model, "optimizer", None) is None:
                raise ValueError("the model is not compiled: call model.compile(optimizer=..., loss=...) before it "
                                 "trains")
            model.optimizer.build(model.trainable_variables)
            values = _state(model)
            if same_build:
                self._starts[key] = (seed, [keras.ops.copy(v) for v in values])
            if key not in self._kept:
                self._kept[key] = fresh
                return fresh
        for variable, value in zip(_state(model_of(self._kept[key])), values):
            variable.assign(value)
        return self._kept[key]


def _state(model: keras.Model) -> list:
    """Every variable a training changes or reads: the model's (weights, BatchNorm statistics, dropout seeds) and
    its optimizer's (step count, learning rate, moments)."""
    return [*model.variables, *model.optimizer.variables]


def detached(run: Run) -> Run:
    """``run`` with a model of its own: a copy holding its weights, for a run trained on a kept head
    (``CompiledHeads``) that must outlive the key's next training."""
    copy = keras.models.clone_model(run.model)
    copy.set_weights(run.model.get_weights())
    return dataclasses.replace(run, model=copy)


def train_head(build: Callable[[int], keras.Model], train: tuple[np.ndarray, np.ndarray],
               val: tuple[np.ndarray, np.ndarray], epochs: int, batch_size: int, seed: int = 0,
               callbacks=(), kept: tuple[CompiledHeads, object] | None = None,
               targets_for: Callable | None = None, read_outputs: Callable | None = None,
               on_epoch: Callable[[Run], None] | None = None, measure_batchnorm: bool = False) -> Run:
    """Build a head with ``build(feature_dim)`` under ``seed`` and train it on cached features.

    ``kept=(heads, key)`` takes the model from ``heads`` (``CompiledHeads``): the same run, without tracing.
    ``targets_for(model, y)`` gives the targets the model is fitted on (one-hot labels for a categorical loss,
    say); the run keeps the plain ones.  ``read_outputs(model, outputs)`` turns the recorded validation outputs
    into what the lesson judges (probabilities from logits, say).  ``on_epoch(run so far)`` is called after each
    epoch, and first after the first few batches (``FirstPicture``: the training loss so far, the validation
    outputs then, no validation loss yet), so that a live view can draw the curves as they grow; the run trains
    the same either way.  ``measure_batchnorm``: before each validation
    pass the head's BatchNorm statistics are measured over all the training features (``refresh_batchnorm``),
    rather than read from moving averages that have not yet forgotten their starting values; the training itself
    is the same, and a head without BatchNorm gives the same run either way.
    """
    start = time.perf_counter()
    pad_heap()  # a head's many small steps: their buffers carved from memory already mapped (tlclinic.heap)
    if kept is None:
        seed_keras(seed)
        model = build(train[0].shape[1])
    else:
        model = kept[0].head(kept[1], build, train[0].shape[1], seed)
    predictions: list[np.ndarray] = []
    fit_targets = (lambda y: targets_for(model, y)) if targets_for else (lambda y: y)
    run_so_far = lambda history: Run(model, history, predictions, np.asarray(val[1]),  # noqa: E731
                                     time.perf_counter() - start, seed)
    each_epoch = [FirstPicture(on_epoch, run_so_far, val[0], read_outputs, train[0] if measure_batchnorm else None),
                  _EachEpoch(lambda history: on_epoch(run_so_far(history)))] if on_epoch else []
    refresh = [_RefreshBatchNorm(train[0])] if measure_batchnorm else []
    history = fit_shuffled(model, train[0], fit_targets(train[1]), epochs, batch_size, seed,
                           validation_data=(val[0], fit_targets(val[1])),
                           callbacks=[*refresh, _RecordPredictions(val[0], predictions, read_outputs), *callbacks,
                                      *each_epoch])
    return run_so_far(history)


def train_seeds(build: Callable[[int], keras.Model], seeds, train: tuple[np.ndarray, np.ndarray],
                val: np.ndarray, epochs: int, batch_size: int) -> list[list[np.ndarray]]:
    """Train ``build``'s head once per seed, as ``train_head`` would, tracing its training function once.

    Returns, per seed, the validation outputs after each epoch (no validation loss is computed).
    """
    heads, outputs = CompiledHeads(), []
    pad_heap()  # as train_head does
    for seed in seeds:
        model = heads.head("head", build, train[0].shape[1], seed)
        store: list[np.ndarray] = []
        fit_shuffled(model, train[0], train[1], epochs, batch_size, seed, callbacks=[_RecordPredictions(val, store)])
        outputs.append(store)
    return outputs
