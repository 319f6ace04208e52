"""The static checks, read off a compiled model, a data sample and its targets before any training, and
``diagnose``, which runs them all."""
from __future__ import annotations

import warnings

import keras
import numpy as np
from keras import layers

from .findings import SUSPECT_ADAPTIVE_RATE, Finding, Report
from .probes import LayerProbe
from .reading import (ADAPTIVE_OPTIMIZERS, PROBABILITY_ACTIVATIONS, LossSpec, activation_of, activation_range,
                      applies_softmax, learning_rate_of, output_layer, read_loss)

STATIC_SAMPLE = 256  # examples of x that diagnose() runs through the layers


def _sample(x, n: int = STATIC_SAMPLE):
    return keras.tree.map_structure(lambda a: np.asarray(a)[:n], x)


def _softmax_axes(layer: keras.layers.Layer) -> tuple[int, ...]:
    axis = layer.axis if isinstance(layer, layers.Softmax) else -1
    return tuple(axis) if isinstance(axis, (list, tuple)) else (axis,)


def _call_recording_warnings(layer: keras.layers.Layer, value) -> tuple[np.ndarray, list[str]]:
    """Call ``layer`` on ``value``; return its output and the text of Keras's softmax-over-size-1 warnings.

    Every other warning raised meanwhile is issued again, as it was, so that none is lost.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        output = keras.ops.convert_to_numpy(layer(value, training=False))
    quoted = []
    for w in caught:
        text = str(w.message)
        if "softmax" in text and "size 1" in text:
            quoted.append(text)
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno, source=w.source)
    return output, quoted


def check_softmax_one_unit(model: keras.Model, x) -> list[Finding]:
    """A softmax, however written, over an axis of size 1: it outputs 1.0 (up to rounding) for every input.

    Each softmax layer is called again on its input for the sample, recording what Keras warns meanwhile,
    and the warning is quoted in the evidence.
    """
    findings = []
    for layer, value in LayerProbe(model, applies_softmax, side="input")(x):
        output, quoted = _call_recording_warnings(layer, value)
        axes = _softmax_axes(layer)
        if not all(output.shape[a] == 1 for a in axes):
            continue
        said = f'Keras warns: "{quoted[0]}"' if quoted else "Keras gave no warning for this axis."
        findings.append(Finding(
            "softmax-one-unit", layer.name,
            f"softmax over axis {axes if len(axes) > 1 else axes[0]} of shape {output.shape}: its outputs lie "
            f"in [{np.nanmin(output):.8g}, {np.nanmax(output):.8g}] for every input; {said}",
            "for two classes use one unit with a sigmoid (Dense(1, activation='sigmoid')) and binary "
            "cross-entropy, or a softmax over 2 units with sparse categorical cross-entropy.",
            confirmed=True))
    return findings


def _compares_targets_with_outputs(spec: LossSpec | None) -> bool:
    """The loss compares the targets value by value with the outputs themselves (no class indices, no
    logits), so the outputs must be able to reach the targets."""
    return spec is not None and spec.family != "sparse" and not spec.from_logits


def check_output_range(model: keras.Model, y) -> list[Finding]:
    """Targets the output activation cannot reach: the loss can never get near 0 for them."""
    spec, layer = read_loss(model), output_layer(model)
    bounds = activation_range(layer)
    if len(model.outputs) != 1 or bounds is None or not _compares_targets_with_outputs(spec):
        return []
    y = np.asarray(y, dtype=np.float64)
    low, high = bounds
    outside = (y < low) | (y > high)
    if not outside.any():
        return []
    return [Finding(
        "output-range", layer.name,
        f"{outside.mean():.0%} of the targets ({int(outside.sum())} of {outside.size}) lie outside "
        f"[{low:g}, {high:g}], what {activation_of(layer)} can output; the targets span "
        f"[{y.min():.3g}, {y.max():.3g}].",
        _range_fix(activation_of(layer), spec),
        confirmed=True)]


def _range_fix(activation: str, spec: LossSpec) -> str:
    if spec.family == "regression":
        return (f"use a linear output (no activation) instead of {activation}, or rescale the targets into "
                "the range the activation covers.")
    return ("give each class its own unit: a softmax over the C classes with sparse categorical "
            "cross-entropy on the integer labels.")


def _class_labels(y: np.ndarray) -> bool:
    """Every target is a whole number: class indices (or 0/1 flags)."""
    return bool(np.all(np.isfinite(y)) and np.all(y == np.round(y)))


def _index_shaped(y: np.ndarray) -> bool:
    """One label per example, shape (N,) or (N, 1): class indices, not one-hot rows."""
    return y.ndim == 1 or (y.ndim == 2 and y.shape[1] == 1)


def check_loss_mismatch(model: keras.Model, y) -> list[Finding]:
    """The loss does not fit the output activation or the labels (single-output models)."""
    spec, layer = read_loss(model), output_layer(model)
    if spec is None or len(model.outputs) != 1:
        return []
    y = np.asarray(y)
    units = int(model.outputs[0].shape[-1])
    activation = activation_of(layer)
    problems = [p for rule in _LOSS_RULES if (p := rule(spec, activation, units, y))]
    return [Finding("loss-mismatch", layer.name, evidence, fix, confirmed) for evidence, fix, confirmed in problems]


def _categorical_on_one_unit(spec, activation, units, y):
    if spec.family == "categorical" and units == 1:
        return (f"{spec.name} over 1 output unit: the unit's probability is normalised to 1, the loss is 0 "
                "whatever the weights and no gradient flows.",
                "for two classes use binary cross-entropy on one sigmoid unit (or from_logits=True on a "
                "linear unit).", True)
    return None


def _categorical_on_sigmoids(spec, activation, units, y):
    if spec.family == "categorical" and activation == "sigmoid" and units > 1:
        return (f"{spec.name} on {units} independent sigmoid outputs, which it renormalises as if they "
                "were a distribution.",
                "use a softmax output for one class per example, or binary cross-entropy for several.", False)
    return None


def _categorical_on_indices(spec, activation, units, y):
    if spec.family == "categorical" and units > 1 and _index_shaped(y) and _class_labels(y):
        return (f"{spec.name} expects one-hot rows of {units} values; the labels are class indices of shape "
                f"{y.shape}.",
                "use sparse_categorical_crossentropy on the integer labels (or one-hot encode them).", True)
    return None


def _binary_on_many_values(spec, activation, units, y):
    values = np.unique(y[np.isfinite(y)]) if spec.family == "binary" else ()
    if len(values) > 2:
        shown = ", ".join(f"{v:g}" for v in values[:6]) + (", ..." if len(values) > 6 else "")
        return (f"{spec.name} on {len(values)} distinct label values ({shown}): it is defined for 0/1 "
                "targets only.",
                "for C classes use a softmax over C units with sparse categorical cross-entropy.", True)
    return None


def _binary_on_two_unit_softmax(spec, activation, units, y):
    if (spec.family == "binary" and activation == "softmax" and units == 2 and _index_shaped(y)
            and set(np.unique(y)) <= {0, 1}):
        return (f"{spec.name} compares each 0/1 label of shape {y.shape} with both softmax outputs, which "
                "sum to 1: the loss is lowest at 0.5/0.5 for every input.",
                "use sparse categorical cross-entropy with the 2-unit softmax, or one sigmoid unit with "
                "binary cross-entropy.", True)
    return None


def _cross_entropy_on_non_probabilities(spec, activation, units, y):
    if (spec.is_cross_entropy and not spec.from_logits
            and activation is not None and activation not in PROBABILITY_ACTIVATIONS):
        return (f"{spec.name} without from_logits reads the {activation} output as probabilities: Keras clips "
                "it into [1e-7, 1 - 1e-7] and outputs outside that range get no gradient.",
                f"pass from_logits=True to the loss on a linear output, or end with "
                f"{'sigmoid' if spec.family == 'binary' else 'softmax'}.", True)
    return None


def _binary_logits_from_relu(spec, activation, units, y):
    if spec.family == "binary" and spec.from_logits and activation == "relu":
        return (f"{spec.name} with from_logits=True on a relu output: the logits are never negative, so the "
                "predicted probability never goes below 0.5.",
                "make the output layer linear (no activation).", True)
    return None


def _logits_from_probabilities(spec, activation, units, y):
    if spec.is_cross_entropy and spec.from_logits and activation in PROBABILITY_ACTIVATIONS:
        return (f"{spec.name} with from_logits=True on a {activation} output squashes the outputs twice: the "
                "probabilities it computes stay near the middle.",
                f"drop the {activation} (linear output) or pass from_logits=False.", False)
    return None


def _sparse_labels_beyond_units(spec, activation, units, y):
    if spec.family == "sparse" and _class_labels(y) and y.size and (y.max() >= units or y.min() < 0):
        return (f"{spec.name} on labels {y.min():g} to {y.max():g} with {units} output unit(s): labels must "
                f"lie in 0..{units - 1}.",
                "give the output layer one unit per class.", True)
    return None


def _regression_loss_on_classes(spec, activation, units, y):
    if spec.family == "regression" and activation in PROBABILITY_ACTIVATIONS and _class_labels(y):
        values = np.unique(y)
        return (f"{spec.name} on {len(values)} integer label values with a {activation} output: a regression "
                "loss on class labels learns slowly and, with class indices, aims at the wrong values.",
                "use a cross-entropy: sparse categorical for a softmax, binary for a sigmoid.", False)
    return None


_LOSS_RULES = (_categorical_on_one_unit, _categorical_on_sigmoids, _categorical_on_indices,
               _binary_on_many_values, _binary_on_two_unit_softmax, _cross_entropy_on_non_probabilities,
               _binary_logits_from_relu, _logits_from_probabilities, _sparse_labels_beyond_units,
               _regression_loss_on_classes)


def check_learning_rate(model: keras.Model) -> list[Finding]:
    """An adaptive optimizer at 1e-2 or more: suspect until training shows the loss jump or the big steps."""
    optimizer = getattr(model.optimizer, "inner_optimizer", model.optimizer)
    if not isinstance(optimizer, ADAPTIVE_OPTIMIZERS):
        return []
    rate, scheduled = learning_rate_of(optimizer)
    if np.float32(rate) < np.float32(SUSPECT_ADAPTIVE_RATE):  # the rate is kept in float32: 0.01 reads 0.0099999998
        return []
    source = "its schedule starts at" if scheduled else "learning rate"
    return [Finding(
        "learning-rate", "",
        f"{type(optimizer).__name__} {source} {rate:g}; adaptive optimizers step each weight by about the "
        f"rate, {SUSPECT_ADAPTIVE_RATE:g} or more is suspect.",
        "lower the learning rate to 1e-3 (or find it with a learning-rate range test).",
        confirmed=False)]


def check_trainable(model: keras.Model) -> list[Finding]:
    """A model with weights none of which is trainable: ``fit`` runs, and changes nothing."""
    if model.trainable_weights or not model.weights:
        return []
    frozen = sum(1 for layer in model.layers if layer.weights)
    return [Finding(
        "nothing-trainable", "",
        f"0 of the model's {len(model.weights)} weight tensors are trainable ({frozen} layers with weights, all "
        "frozen).",
        "make the new head trainable, and unfreeze backbone layers by name (the blocks above 'mixed…'), not by an "
        "index counted on another network.",
        confirmed=True)]


def diagnose(model: keras.Model, x, y) -> Report:
    """Static checks of a compiled model before training: softmax over one unit, output range, loss against
    output and labels, learning rate, nothing trainable.  ``x`` is a data sample (its first examples are run
    through the layers), ``y`` the targets the model will be fitted on."""
    sample = _sample(x)
    return Report([*check_softmax_one_unit(model, sample), *check_output_range(model, y),
                   *check_loss_mismatch(model, y), *check_learning_rate(model), *check_trainable(model)])
