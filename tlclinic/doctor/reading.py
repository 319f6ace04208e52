"""Reading a compiled model: its loss (``read_loss``, ``LossSpec``), its output layer, the activation each layer
applies and the range of values it can take, the optimizer's learning rate, its layers in order (nested models
opened) and the first one with weights."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Callable

import keras
import numpy as np
from keras import layers

ADAPTIVE_OPTIMIZERS = (keras.optimizers.Adam, keras.optimizers.AdamW, keras.optimizers.Adamax,
                       keras.optimizers.Nadam, keras.optimizers.RMSprop, keras.optimizers.Adagrad,
                       keras.optimizers.Lion, keras.optimizers.Lamb)
BINARY_LOSSES = {"binary_crossentropy", "binary_focal_crossentropy"}
CATEGORICAL_LOSSES = {"categorical_crossentropy", "categorical_focal_crossentropy"}
SPARSE_LOSSES = {"sparse_categorical_crossentropy"}
REGRESSION_LOSSES = {"mean_squared_error", "mean_absolute_error", "huber", "log_cosh",
                     "mean_squared_logarithmic_error", "mean_absolute_percentage_error"}
PROBABILITY_ACTIVATIONS = {"sigmoid", "softmax"}
# Layers that rescale what they are given: after one of them the scale of the raw inputs no longer matters.
NORMALIZING_LAYERS = (layers.Rescaling, layers.Normalization, layers.BatchNormalization, layers.LayerNormalization,
                      layers.GroupNormalization, layers.UnitNormalization)
# Layers that pass the input's values through unchanged in scale (reshaping, padding, pooling, dropout...): what
# the first layer with weights receives through them is the raw input.
SCALE_PRESERVING_LAYERS = (layers.InputLayer, layers.Flatten, layers.Reshape, layers.Permute, layers.Dropout,
                           layers.SpatialDropout1D, layers.SpatialDropout2D, layers.SpatialDropout3D,
                           layers.GaussianNoise, layers.ZeroPadding1D, layers.ZeroPadding2D, layers.ZeroPadding3D,
                           layers.Cropping1D, layers.Cropping2D, layers.Cropping3D, layers.MaxPooling1D,
                           layers.MaxPooling2D, layers.MaxPooling3D, layers.AveragePooling1D, layers.AveragePooling2D,
                           layers.AveragePooling3D, layers.GlobalAveragePooling1D, layers.GlobalAveragePooling2D,
                           layers.GlobalAveragePooling3D, layers.GlobalMaxPooling1D, layers.GlobalMaxPooling2D,
                           layers.GlobalMaxPooling3D, layers.RepeatVector)
# The values each output activation can take (closed: a sigmoid approaches 0 and 1, which is what a 0/1
# target asks of it).
ACTIVATION_RANGES = {
    "relu": (0.0, math.inf), "softplus": (0.0, math.inf), "exponential": (0.0, math.inf),
    "sigmoid": (0.0, 1.0), "hard_sigmoid": (0.0, 1.0), "softmax": (0.0, 1.0),
    "tanh": (-1.0, 1.0), "softsign": (-1.0, 1.0), "elu": (-1.0, math.inf),
}


@dataclass(frozen=True)
class LossSpec:
    """The compiled loss of a single-output model: its canonical name, ``from_logits`` and a callable."""

    name: str
    from_logits: bool
    function: Callable

    @property
    def family(self) -> str:
        """'binary', 'categorical', 'sparse', 'regression' or 'other'."""
        for family, names in (("binary", BINARY_LOSSES), ("categorical", CATEGORICAL_LOSSES),
                              ("sparse", SPARSE_LOSSES), ("regression", REGRESSION_LOSSES)):
            if self.name in names:
                return family
        return "other"

    @property
    def is_cross_entropy(self) -> bool:
        return self.family in ("binary", "categorical", "sparse")

    def mean(self, targets, predictions) -> float:
        """The loss of ``predictions`` against ``targets``, averaged over the examples."""
        targets, predictions = _same_rank(np.asarray(targets), np.asarray(predictions, dtype="float32"))
        return float(np.mean(keras.ops.convert_to_numpy(self.function(targets, predictions))))


def _same_rank(targets: np.ndarray, predictions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Targets and predictions whose ranks differ by one brought to the same rank, as a compiled loss does:
    a last axis of size 1 is dropped, else one is added to the smaller (a plain loss function does neither)."""
    if targets.ndim == predictions.ndim - 1:
        return (targets, predictions[..., 0]) if predictions.shape[-1] == 1 else (targets[..., None], predictions)
    if predictions.ndim == targets.ndim - 1:
        return (targets[..., 0], predictions) if targets.shape[-1] == 1 else (targets, predictions[..., None])
    return targets, predictions


def _snake_case(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def read_loss(model: keras.Model) -> LossSpec | None:
    """The model's loss, given to ``compile`` as a string, a function or a ``keras.losses.Loss``, or read from
    ``get_compile_config()`` when the model's ``loss`` attribute is unset; None for no loss or for one loss
    per output (a list or dict, which the checks leave alone)."""
    loss = getattr(model, "loss", None)
    if loss is None:
        loss = (model.get_compile_config() or {}).get("loss")
    if isinstance(loss, dict) and "class_name" in loss:
        loss = keras.losses.deserialize(loss)
    if isinstance(loss, str):
        loss = keras.losses.get(loss)
    if isinstance(loss, keras.losses.Loss):
        fn = getattr(loss, "fn", None)  # the function a built-in Loss wraps
        name = fn.__name__ if fn is not None else _snake_case(type(loss).__name__)
        return LossSpec(name, bool(loss.get_config().get("from_logits", False)), loss)
    if callable(loss):
        keywords = getattr(loss, "keywords", {})  # functools.partial(binary_crossentropy, from_logits=True)
        name = getattr(getattr(loss, "func", loss), "__name__", type(loss).__name__)
        return LossSpec(name, bool(keywords.get("from_logits", False)), loss)
    return None


def output_layer(model: keras.Model) -> keras.layers.Layer:
    """The layer that gives the model's output (looking inside a nested model that ends it)."""
    layer = model.layers[-1]
    while isinstance(layer, keras.Model):
        layer = layer.layers[-1]
    return layer


def activation_of(layer: keras.layers.Layer) -> str | None:
    """The name of the activation a layer applies last ("linear" for none), None when it is no activation
    layer (a Reshape, a Dropout, a custom layer...)."""
    if isinstance(layer, layers.Softmax):
        return "softmax"
    if isinstance(layer, layers.ReLU):
        return "relu" if float(layer.negative_slope) == 0 else "leaky_relu"
    activation = getattr(layer, "activation", None)
    if activation is None:
        return None
    return getattr(activation, "__name__", type(activation).__name__)


def activation_range(layer: keras.layers.Layer) -> tuple[float, float] | None:
    """(lowest, highest) value the layer's activation can output, None when it is unbounded or unknown."""
    name = activation_of(layer)
    if isinstance(layer, layers.ReLU) and name == "relu" and layer.max_value is not None:
        return 0.0, float(layer.max_value)
    return ACTIVATION_RANGES.get(name)


def learning_rate_of(optimizer: keras.optimizers.Optimizer) -> tuple[float, bool]:
    """(learning rate at step 0, whether it comes from a schedule), read from the optimizer's config."""
    optimizer = getattr(optimizer, "inner_optimizer", optimizer)  # a LossScaleOptimizer wraps the real one
    rate = optimizer.get_config()["learning_rate"]
    if isinstance(rate, dict):
        schedule = keras.optimizers.schedules.deserialize(rate)
        return float(keras.ops.convert_to_numpy(schedule(0))), True
    return float(rate), False


def is_relu(layer: keras.layers.Layer) -> bool:
    """The layer ends in a relu: ``Dense``/``Conv*(activation="relu")``, ``Activation("relu")``, ``ReLU()``."""
    return activation_of(layer) == "relu"


def applies_softmax(layer: keras.layers.Layer) -> bool:
    """The layer ends in a softmax: ``Dense(activation="softmax")``, ``Activation("softmax")``, ``Softmax()``."""
    return activation_of(layer) == "softmax"


def leaf_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """The model's layers in order, each nested model replaced by its own layers."""
    leaves = []
    for layer in model.layers:
        leaves += leaf_layers(layer) if isinstance(layer, keras.Model) else [layer]
    return leaves


def first_weighted_layer(model: keras.Model) -> tuple[keras.layers.Layer | None, list[keras.layers.Layer]]:
    """(the first layer with weights, the layers before it), nested models opened; (None, all) without one."""
    leaves = leaf_layers(model)
    for i, layer in enumerate(leaves):
        if layer.weights:
            return layer, leaves[:i]
    return None, leaves
