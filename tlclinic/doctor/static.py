"""The static checks, read off a compiled model, a data sample and its targets before any training, and
``diagnose``, which runs them all."""
from __future__ import annotations

import math
import warnings

import keras
import numpy as np
from keras import layers

from ..symptoms import loss_reads_logits
from .findings import SUSPECT_ADAPTIVE_RATE, UNSCALED_INPUT, Finding, Report
from .probes import LayerProbe
from .reading import (ADAPTIVE_OPTIMIZERS, NORMALIZING_LAYERS, PROBABILITY_ACTIVATIONS, SCALE_PRESERVING_LAYERS,
                      LossSpec, activation_of, activation_range, applies_softmax, first_weighted_layer, leaf_layers,
                      learning_rate_of, output_layer, read_loss)

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


def _regression_loss_on_classes(spec, activation, units, y):
    """A regression loss on class indices above 1 (or below 0) with a sigmoid or softmax output.  On 0/1 targets
    (flags, one-hot rows) it is no mismatch: mean squared error on a sigmoid trains, only more slowly than binary
    cross-entropy, and is not reported (a working program gets no finding)."""
    if (spec.family == "regression" and activation in PROBABILITY_ACTIVATIONS and _class_labels(y)
            and not set(np.unique(y)) <= {0, 1}):
        values = np.unique(y)
        shown = ", ".join(f"{v:g}" for v in values[:6]) + (", ..." if len(values) > 6 else "")
        return (f"{spec.name} on {len(values)} integer label values ({shown}) with a {activation} output: a "
                "regression loss on class indices aims the outputs at the index values, not at the classes.",
                "use a cross-entropy: sparse categorical for a softmax, binary for a sigmoid.", False)
    return None


_LOSS_RULES = (_categorical_on_one_unit, _categorical_on_sigmoids, _categorical_on_indices,
               _binary_on_many_values, _binary_on_two_unit_softmax, _cross_entropy_on_non_probabilities,
               _binary_logits_from_relu, _regression_loss_on_classes)


def check_double_activation(model: keras.Model) -> list[Finding]:
    """A cross-entropy with ``from_logits=True`` on a sigmoid or softmax output: the loss squashes the probabilities
    again, so the probability it scores for the true class stays in a narrow band whatever the weights (for a
    sigmoid, sigmoid(p) with p in [0, 1]: between 0.5 and 0.731)."""
    spec, layer = read_loss(model), output_layer(model)
    activation = activation_of(layer)
    if (spec is None or len(model.outputs) != 1 or not spec.is_cross_entropy or not spec.from_logits
            or activation not in PROBABILITY_ACTIVATIONS):
        return []
    units = int(model.outputs[0].shape[-1])
    if activation == "sigmoid" or units == 1:
        low, high = 0.5, 1 / (1 + math.exp(-1))  # sigmoid(0), sigmoid(1)
        band = f"sigmoid(p) for p in [0, 1] lies in [{low:.3g}, {high:.3g}]"
    else:
        low, high = 1 / (1 + (units - 1) * math.e), math.e / (math.e + units - 1)
        band = f"a softmax of {units} values in [0, 1] gives each class a probability in [{low:.3g}, {high:.3g}]"
    floor = -math.log(high)
    # The TensorFlow backend takes the logits back from a tensor a sigmoid or softmax op produced (and warns):
    # the model trains there, and the mistake shows on the other backends or once a layer comes after the output.
    tensorflow = loss_reads_logits()
    masked = (" The TensorFlow backend takes the logits back from the activation (Keras warns: \"received "
              "from_logits=True, but the output argument was produced by a Sigmoid/Softmax activation\"), so it "
              "trains there; JAX, PyTorch and NumPy do not." if tensorflow else "")
    return [Finding(
        "double-activation", layer.name,
        f"{spec.name} with from_logits=True on a {activation} output applies a "
        f"{'sigmoid' if activation == 'sigmoid' or units == 1 else 'softmax'} to probabilities: {band}, so the "
        f"loss on an example cannot fall below {floor:.3g} and its gradient stays small.{masked}",
        f"drop the {activation} (a linear output layer) and keep from_logits=True, or keep the {activation} and "
        "use the loss without from_logits.",
        confirmed=not tensorflow)]


def check_sparse_labels(model: keras.Model, y) -> list[Finding]:
    """Sparse categorical cross-entropy on labels that are not class indices 0..C-1 of the C output units.

    Non-integer labels train without any error: Keras casts them to integers, truncating them (a mask divided by
    255, 0 and 1/255..1, becomes class 0 almost everywhere).  Negative labels or labels at C or above stop ``fit``
    with an InvalidArgumentError on CPU and give NaN losses on GPU.
    """
    spec = read_loss(model)
    if spec is None or spec.family != "sparse" or len(model.outputs) != 1:
        return []
    y = np.asarray(y, dtype=np.float64)
    y = y[np.isfinite(y)]
    if not y.size:
        return []
    units, layer = int(model.outputs[0].shape[-1]), output_layer(model)
    fractional = y != np.round(y)
    if fractional.any():
        values = np.unique(y)
        shown = ", ".join(f"{v:.4g}" for v in values[:6]) + (", ..." if len(values) > 6 else "")
        classes = np.unique(np.trunc(y).astype(np.int64))
        scaled = bool(np.allclose(values * 255, np.round(values * 255), atol=1e-3)) and values.max() <= 1
        return [Finding(
            "sparse-labels", layer.name,
            f"{fractional.mean():.0%} of the labels are not whole numbers ({len(values)} values: {shown}); "
            f"{spec.name} truncates them to integers, so the model is taught {len(classes)} class(es) "
            f"({', '.join(str(c) for c in classes[:6])})"
            + (" — they look like class indices divided by 255." if scaled else "."),
            "give the loss the class indices themselves, integers 0..C-1: scale the images, not the labels "
            "(or masks).",
            confirmed=True)]
    if y.min() < 0 or y.max() >= units:
        return [Finding(
            "sparse-labels", layer.name,
            f"{spec.name} on labels {y.min():g} to {y.max():g} with {units} output unit(s): labels must lie in "
            f"0..{units - 1} (outside it fit stops with an InvalidArgumentError on CPU and the loss is NaN on GPU).",
            "give the output layer one unit per class and number the classes from 0 (shift labels that start "
            "at 1 or go below 0).",
            confirmed=True)]
    return []


def check_unscaled_inputs(model: keras.Model, x) -> list[Finding]:
    """Inputs far larger than what the first layer with weights expects, and nothing in the model to rescale them.

    A Dense or convolution initialised by Glorot's or He's rule expects inputs of order 1: each output then starts
    of order 1 too.  Raw features in the tens or thousands (pixels 0-255, prices, counts) saturate tanh and sigmoid
    units and make relu units' outputs, and the gradients, as large.  The measure is the root mean square of each
    input feature over the sample; the largest must stay at or under ``UNSCALED_INPUT``.

    A pretrained backbone says what it expects: when the first layer with weights feeds a batch normalisation
    whose moving statistics were learnt, the activations it receives on the sample are compared with them
    (``backbone_input_shift``): more than ``UNSCALED_INPUT`` learnt standard deviations from the learnt mean (or
    less than its inverse), the backbone is given inputs preprocessed otherwise than in its training (pixels
    0..255 to a backbone trained on [-1, 1]); whatever rescaling layers come before it are part of the measure.

    Otherwise left alone: a model with any normalisation layer (``NORMALIZING_LAYERS``: Rescaling,
    Normalization, BatchNormalization...), a first layer with weights that is frozen (a pretrained layer expects
    what it was trained on, which only a batch normalisation after it tells), an Embedding (its inputs are token
    ids), a first layer that is also the output layer (a linear or logistic model, for which the scale only
    changes the effective learning rate), a first layer reached through a layer that may change the scale (a
    Lambda, a custom layer), and models with several inputs.  Inputs much smaller than 1 are not reported.
    Inputs whose every feature is the same for every example (a spread of 0: integer images divided in place by
    255) are reported whatever the model.
    """
    first, rms, flat = _input_scale(model, x)
    if first is None or isinstance(first, layers.Embedding):
        return []
    if len(flat) > 1 and flat.size and np.all(np.ptp(flat, axis=0) == 0):
        return [Finding(
            "unscaled-inputs", first.name,
            f"every one of the {flat.shape[1]} input features is the same for all {len(flat)} examples (the "
            f"inputs span [{flat.min():.4g}, {flat.max():.4g}]): the model cannot tell the examples apart.",
            "check the preprocessing: integer images divided in place by 255 become 0 (convert them to float "
            "first: x.astype('float32') / 255), and a scaler fitted on one example maps every feature to 0.",
            confirmed=True)]
    shift = backbone_input_shift(model, x)
    if shift is not None:
        bn, observed = shift
        if observed > UNSCALED_INPUT or observed < 1 / UNSCALED_INPUT:
            return [Finding(
                "unscaled-inputs", first.name,
                f"the inputs span [{flat.min():.4g}, {flat.max():.4g}]; {first.name} feeds {bn.name}, a batch "
                f"normalisation whose moving statistics were learnt in pretraining: on these inputs the activations "
                f"it receives lie {observed:.3g} of its learnt standard deviations from its learnt mean (root mean "
                f"square; about 1 on what it was trained on, threshold {UNSCALED_INPUT:g} either way): the backbone "
                "is given inputs preprocessed otherwise than in its training.",
                "apply the backbone's own preprocessing (its preprocess_input, e.g. Rescaling(1/127.5, offset=-1) "
                "for [-1, 1]) as the model's first layer, so that the pipeline and a deployed model both feed it "
                "the pixels as loaded.",
                confirmed=True)]
        return []
    largest = float(rms.max()) if rms is not None and rms.size else 0.0
    if not largest > UNSCALED_INPUT:
        return []
    share = float(np.mean(rms > UNSCALED_INPUT))
    return [Finding(
        "unscaled-inputs", first.name,
        f"the inputs span [{flat.min():.4g}, {flat.max():.4g}]; their per-feature root mean square reaches "
        f"{largest:.4g} (threshold {UNSCALED_INPUT:g}), {share:.0%} of the {rms.size} features above it. "
        f"{first.name} ({type(first).__name__}, {activation_of(first) or 'no'} activation) is initialised for "
        "inputs of order 1 and no normalisation layer comes before it.",
        "standardise each feature with the training set's mean and standard deviation (or put a "
        "keras.layers.Normalization adapted on the training data first in the model); for pixels 0-255 use "
        "Rescaling(1/255) or divide by 255.",
        confirmed=False)]


def _input_scale(model: keras.Model, x):
    """(the first layer with weights, the per-feature root mean square of ``x`` or None where the scale check
    does not apply, ``x`` as float64 rows); the layer is None for a model with several inputs or no weights."""
    if len(model.inputs) != 1:
        return None, None, None
    first, before = first_weighted_layer(model)
    values = np.asarray(keras.tree.flatten(x)[0], dtype=np.float64)
    flat = values.reshape(len(values), -1)
    flat = np.where(np.isfinite(flat), flat, 0.0)
    if (first is None or first is output_layer(model) or not first.trainable or isinstance(first, layers.Embedding)
            or any(isinstance(layer, NORMALIZING_LAYERS) for layer in leaf_layers(model))
            or not all(isinstance(layer, SCALE_PRESERVING_LAYERS) for layer in before)):
        return first, None, flat
    return first, np.sqrt(np.mean(np.square(flat), axis=0)), flat


def backbone_input_shift(model: keras.Model, x) -> tuple[keras.layers.Layer, float] | None:
    """(the batch normalisation right after the model's first layer with weights, how far from its learnt
    statistics the activations it receives lie) when its moving statistics were learnt (a pretrained backbone),
    None otherwise.  The distance is the root mean square of (activation - moving mean) / moving standard
    deviation over the sample: about 1 for inputs preprocessed as in pretraining, 100 or more for pixels 0..255
    given to a backbone trained on [-1, 1]."""
    first, _ = first_weighted_layer(model)
    leaves = leaf_layers(model)
    if first is None:
        return None
    after = leaves[leaves.index(first) + 1:leaves.index(first) + 2]
    if not after or not isinstance(after[0], layers.BatchNormalization):
        return None
    bn = after[0]
    mean = np.asarray(bn.moving_mean.numpy(), dtype=np.float64)
    variance = np.asarray(bn.moving_variance.numpy(), dtype=np.float64)
    if np.allclose(mean, 0) and np.allclose(variance, 1):
        return None  # never trained: a fresh batch normalisation rescales whatever it is given
    values = [value for _, value in LayerProbe(model, lambda layer: layer is bn, side="input")(_sample(x))]
    if not values or not np.all(np.isfinite(values[0])):
        return None
    axis = bn.axis if isinstance(bn.axis, int) else bn.axis[0]
    shape = [1] * values[0].ndim
    shape[axis] = -1
    z = (values[0] - mean.reshape(shape)) / np.sqrt(variance.reshape(shape) + bn.epsilon)
    return bn, math.sqrt(float(np.mean(np.square(z))))


def input_scale(model: keras.Model, x) -> float | None:
    """The largest per-feature root mean square of the inputs, where ``check_unscaled_inputs`` measures it (None
    where it leaves the model alone)."""
    _, rms, _ = _input_scale(model, _sample(x))
    return float(rms.max()) if rms is not None and rms.size else None


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
    output and labels, a second sigmoid or softmax in the loss, sparse labels, unscaled inputs, learning rate,
    nothing trainable.  ``x`` is a data sample (its first examples are run through the layers and measured),
    ``y`` the targets the model will be fitted on."""
    sample = _sample(x)
    return Report([*check_softmax_one_unit(model, sample), *check_output_range(model, y),
                   *check_loss_mismatch(model, y), *check_double_activation(model), *check_sparse_labels(model, y),
                   *check_unscaled_inputs(model, sample), *check_learning_rate(model), *check_trainable(model)],
                  {"input_scale": input_scale(model, sample)})
