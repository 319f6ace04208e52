"""Say why a Keras 3 model won't train: findings with their evidence and their fix.

``diagnose(model, x, y)`` reads a compiled model, a data sample and its targets before any training;
``Doctor(x_val, y_val)`` is a callback that watches training on a fixed validation sample and confirms or
adds findings; ``examine`` does both and returns the combined ``Report``.  Everything goes through
``keras.ops``, ``keras.layers`` and NumPy, so it runs on every Keras backend.

The kinds of finding (``KINDS``):

- ``softmax-one-unit``: a softmax over an axis of size 1 outputs 1.0 whatever its input; the finding quotes
  the warning Keras itself raises when the layer is called.
- ``output-range``: the output activation cannot reach some targets (relu/softplus below 0, sigmoid/softmax
  outside [0, 1], tanh outside [-1, 1]); the evidence gives the share of targets out of reach.
- ``loss-mismatch``: loss, output activation and labels disagree (categorical cross-entropy on one unit or on
  sigmoids, binary cross-entropy on more than two label values or on a 2-unit softmax with 0/1 labels, a
  cross-entropy on an output that is not what its ``from_logits`` says, a regression loss on class labels).
- ``learning-rate``: an adaptive optimizer at a rate of 1e-2 or more is suspect before training; training
  confirms it by a first-epoch loss more than 10 times the initial loss, or by a hidden layer whose weights
  moved by more than 0.1 of their norm in one epoch when the rate was suspect or most relu units died (any
  optimizer: training adds the finding when nothing was suspected).
- ``initial-loss``: the loss before any update is far from what an uninformed model scores.
- ``dead-relu``: more than 70% of the hidden relu units output 0 for every validation input.
- ``collapsed-output``: every validation prediction is the same, within 1e-6.
- ``dead-output``: every validation prediction is exactly 0 after two consecutive epochs.
- ``nan``: the loss or the weights are NaN or infinite (with the training step where it started).
- ``nothing-trainable``: the compiled model has no trainable weight, so ``fit`` changes nothing (question 000
  froze ``model.layers[:249]``, InceptionV3's count: on a smaller backbone that is every layer, the new head too).

Thresholds, and their margins measured on the catalogue (``python -m tlclinic.doctor.catalogue --seeds 5``:
18 programs and their twins, seeds 0-4, the same under ``TF_ENABLE_ONEDNN_OPTS=0`` and ``=1``):

- ``DEAD_RELU_SHARE`` = 0.7 of the hidden relu units dead (DeepDiagnosis, AUTOTRAINER): at most 0.016 on the
  twins; the program whose bug is dead units reaches at least 0.94 within its 3 epochs.
- ``LOSS_JUMP`` = a first-epoch training loss 10 times the initial loss: at most 1.16 times on the twins.
- ``UPDATE_RATIO`` = 0.1, the norm of a layer's weight change over an epoch over the norm of its weights
  (AUTOTRAINER), on the hidden layers: at most 0.048 on the twins, at least 1.2 on the programs whose bug is
  the learning rate.  The output layer is left out: a sound run moves it furthest, by up to 0.30 of its norm
  in an epoch on the twins (plain SGD at 0.01 on the regression with targets in [0, 5]).
- ``SUSPECT_ADAPTIVE_RATE`` = 1e-2 for Adam, AdamW, Adamax, Nadam, RMSprop, Adagrad, Lion and Lamb, read from
  the optimizer's config (a schedule at step 0).
- initial loss against chance, -log(1/C) for C classes: more than ``CLASSIFICATION_LOSS_FACTOR`` = 3 times it
  or less than a third; the classification twins start at 0.92 to 1.51 times chance.  For a regression the
  reference is the loss of predicting 0 for the targets standardised (1 for mean squared error) and the
  initial loss is far at more than ``REGRESSION_LOSS_FACTOR`` = 100 times it: the regression twins start at
  most 12.3 times it (targets in [0, 5]), the targets scaled by 1000 at least 8.7e5 times.
- ``FLOAT32_TOLERANCE`` = 1e-6: predictions closer than that count as the same (collapsed-output).

The update ratio measures steps, not their effect: plain SGD at 0.05 on the regression with targets in
[0, 5], a run that trains, moves its hidden layer by 0.10 to 0.14 in the first epoch and would be reported.
"""
from __future__ import annotations

import html
import math
import re
import warnings
from dataclasses import dataclass, field
from typing import Callable, Iterable

import keras
import numpy as np
from keras import layers

KINDS = {
    "softmax-one-unit": "a softmax over an axis of size 1: it outputs 1.0 whatever its input, so nothing is learnt",
    "output-range": "the output activation cannot reach some of the targets",
    "loss-mismatch": "the loss does not fit the output layer or the labels",
    "learning-rate": "the learning rate is too high: the loss jumps or the weights move by a large share of their size",
    "initial-loss": "the loss before training is far from what an uninformed model scores",
    "dead-relu": "most hidden relu units output 0 for every input and no longer learn",
    "collapsed-output": "the model gives the same prediction for every input",
    "dead-output": "every prediction is exactly 0, epoch after epoch: the output unit is dead",
    "nan": "the loss or the weights became NaN or infinite",
    "nothing-trainable": "no weight of the model is trainable: training changes nothing",
}

DEAD_RELU_SHARE = 0.7
LOSS_JUMP = 10.0
UPDATE_RATIO = 0.1
SUSPECT_ADAPTIVE_RATE = 1e-2
CLASSIFICATION_LOSS_FACTOR = 3.0
REGRESSION_LOSS_FACTOR = 100.0
# Two float32 predictions meant to be equal differ by a few units in the last place depending on the kernels
# that summed them (6e-8 near 1.0); 1e-6 is well above that and well below any difference a model makes.
FLOAT32_TOLERANCE = 1e-6
STATIC_SAMPLE = 256  # examples of x that diagnose() runs through the layers

ADAPTIVE_OPTIMIZERS = (keras.optimizers.Adam, keras.optimizers.AdamW, keras.optimizers.Adamax,
                       keras.optimizers.Nadam, keras.optimizers.RMSprop, keras.optimizers.Adagrad,
                       keras.optimizers.Lion, keras.optimizers.Lamb)
BINARY_LOSSES = {"binary_crossentropy", "binary_focal_crossentropy"}
CATEGORICAL_LOSSES = {"categorical_crossentropy", "categorical_focal_crossentropy"}
SPARSE_LOSSES = {"sparse_categorical_crossentropy"}
REGRESSION_LOSSES = {"mean_squared_error", "mean_absolute_error", "huber", "log_cosh",
                     "mean_squared_logarithmic_error", "mean_absolute_percentage_error"}
PROBABILITY_ACTIVATIONS = {"sigmoid", "softmax"}
# The values each output activation can take (closed: a sigmoid approaches 0 and 1, which is what a 0/1
# target asks of it).
ACTIVATION_RANGES = {
    "relu": (0.0, math.inf), "softplus": (0.0, math.inf), "exponential": (0.0, math.inf),
    "sigmoid": (0.0, 1.0), "hard_sigmoid": (0.0, 1.0), "softmax": (0.0, 1.0),
    "tanh": (-1.0, 1.0), "softsign": (-1.0, 1.0), "elu": (-1.0, math.inf),
}


# ----------------------------------------------------------------------------------------------- the report

@dataclass(frozen=True)
class Finding:
    """One reason the model won't train.

    ``kind`` is a key of ``KINDS``; ``layer`` the name of the layer it points at ("" for the optimizer, the
    data or the whole model); ``evidence`` the numbers that show it; ``fix`` one sentence; ``confirmed`` False
    for a suspicion that training has not (yet) borne out; ``epoch`` the epoch it was seen at (counted from 1,
    0 for before the first update; None for a finding read off the model before training).
    """

    kind: str
    layer: str
    evidence: str
    fix: str
    confirmed: bool
    epoch: int | None = None

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"unknown kind {self.kind!r}; the kinds are: {', '.join(KINDS)}")

    def when(self) -> str:
        """'before training' (static), 'before the first update', 'epoch 2'..., with ', suspected' for an
        unconfirmed finding."""
        moment = ("before training" if self.epoch is None else f"epoch {self.epoch}" if self.epoch
                  else "before the first update")
        return moment if self.confirmed else f"{moment}, suspected"

    def __str__(self) -> str:
        where = f" at {self.layer}" if self.layer else ""
        return f"{self.kind}{where} ({self.when()}): {self.evidence} Fix: {self.fix}"


@dataclass
class Report:
    """The findings on one model, printable (one line each) and shown as a table in a notebook."""

    findings: list[Finding] = field(default_factory=list)
    # What the training findings were judged on (empty for a static report): "loss_family", "initial_loss",
    # "chance_loss" and "epochs", one {"loss", "update_ratio", "dead_relu_share", "prediction_spread"} each.
    measurements: dict = field(default_factory=dict)

    @property
    def kinds(self) -> tuple[str, ...]:
        """The kinds found, each once, in the order found."""
        return tuple(dict.fromkeys(f.kind for f in self.findings))

    def of(self, kind: str) -> list[Finding]:
        """The findings of ``kind``."""
        return [f for f in self.findings if f.kind == kind]

    def __str__(self) -> str:
        return "\n".join(str(f) for f in self.findings) or "no problem found"

    def _repr_html_(self) -> str:
        if not self.findings:
            return "<p>no problem found</p>"
        head = "".join(f"<th>{name}</th>" for name in ("kind", "layer", "when", "evidence", "fix"))
        rows = "".join(
            "<tr>" + "".join(f"<td>{html.escape(text)}</td>" for text in
                             (f.kind, f.layer, f.when(), f.evidence, f.fix)) + "</tr>"
            for f in self.findings)
        return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


def merged(static: Iterable[Finding], trained: Iterable[Finding], measurements: dict | None = None) -> Report:
    """Static findings followed by training ones; a training finding replaces a suspicion of its kind."""
    trained = list(trained)
    seen = {f.kind for f in trained}
    kept = [f for f in static if f.confirmed or f.kind not in seen]
    return Report(kept + trained, dict(measurements or {}))


# --------------------------------------------------------------------------------------- reading the model

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


# ------------------------------------------------------------------------------------------ probing layers

def _graph_inputs(model: keras.Model):
    """The symbolic inputs of a functional or sequential model, in the structure its call takes."""
    return model.inputs if isinstance(model, keras.Sequential) else model.input


def _call_input(model: keras.Model, x):
    return [x] if isinstance(model, keras.Sequential) else x


def _input_in(model: keras.Model, layer: keras.layers.Layer):
    """What ``layer`` is called on inside ``model``: for a nested model called once, the tensor of that call (its
    own ``input`` is its inner Input, which a backbone called after preprocessing layers is not fed directly)."""
    nodes = getattr(layer, "_inbound_nodes", [])
    return nodes[0].input_tensors[0] if isinstance(layer, keras.Model) and len(nodes) == 1 else layer.input


class LayerProbe:
    """The inputs or outputs (``side``) of every layer with ``wanted(layer)`` of a functional or sequential
    model, nested models included, computed in inference mode by probe models on the same graph.

    Built once, called on any ``x``: ``probe(x)`` gives ``[(layer, value as a NumPy array), ...]``.
    """

    def __init__(self, model: keras.Model, wanted: Callable[[keras.layers.Layer], bool], side: str = "output"):
        self.model = model
        self.found = [layer for layer in model.layers if isinstance(layer, keras.Model) or wanted(layer)]
        tensors = {str(i): _input_in(model, layer) if isinstance(layer, keras.Model) or side == "input"
                   else layer.output
                   for i, layer in enumerate(self.found)}  # a dict: a list of one output would come back unlisted
        self._probe = keras.Model(_graph_inputs(model), tensors) if self.found else None
        self._nested = {i: LayerProbe(layer, wanted, side) for i, layer in enumerate(self.found)
                        if isinstance(layer, keras.Model)}

    def __call__(self, x) -> list[tuple[keras.layers.Layer, np.ndarray]]:
        if self._probe is None:
            return []
        values = self._probe(_call_input(self.model, x), training=False)
        pairs = []
        for i, layer in enumerate(self.found):
            if i in self._nested:
                pairs += self._nested[i](values[str(i)])
            else:
                pairs.append((layer, keras.ops.convert_to_numpy(values[str(i)])))
        return pairs


def hidden_relu_probe(model: keras.Model) -> LayerProbe:
    """A probe of the outputs of every relu layer but the output layer."""
    last = output_layer(model)
    return LayerProbe(model, lambda layer: is_relu(layer) and layer is not last)


def _unit_axis(layer: keras.layers.Layer) -> int:
    return 1 if getattr(layer, "data_format", "channels_last") == "channels_first" else -1


def dead_relu_units(model: keras.Model, x, probe: LayerProbe | None = None) -> list[tuple[str, int, int]]:
    """(layer name, dead units, units) for every hidden relu layer: a unit (a Dense unit, a convolution's
    channel) is dead when it outputs exactly 0 at every position for every example of ``x``.  ``probe``, a
    ``hidden_relu_probe(model)`` kept from an earlier call, saves building it again."""
    counts = []
    for layer, value in (probe or hidden_relu_probe(model))(x):
        axis = _unit_axis(layer) % value.ndim
        dead = np.all(value == 0, axis=tuple(a for a in range(value.ndim) if a != axis))
        counts.append((layer.name, int(dead.sum()), int(dead.size)))
    return counts


def _dead_share(counts: list[tuple[str, int, int]]) -> float:
    total = sum(units for _, _, units in counts)
    return sum(dead for _, dead, _ in counts) / total if total else 0.0


def dead_relu_fraction(model: keras.Model, x) -> float:
    """Share of the hidden relu units of a functional or sequential model that output 0 for every example of
    ``x`` (0.0 for a model without any).

    Every relu counts however it is written (``Dense``/``Conv*`` with ``activation="relu"``,
    ``Activation("relu")``, ``ReLU()``).  A relu's 0 is exact, ``max(0, z)`` whatever kernels computed ``z``,
    so no tolerance is needed.  A dead unit passes no gradient back for any of these inputs: it has stopped
    learning, and once many are dead the layers below rarely bring them back.
    """
    return _dead_share(dead_relu_units(model, x))


# ------------------------------------------------------------------------------------------- static checks

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


# ----------------------------------------------------------------------------------- watching the training

def _finite(value) -> bool:
    return bool(np.all(np.isfinite(value)))


def chance_loss(spec: LossSpec, y, units: int) -> float | None:
    """What a model that knows nothing scores with this loss: uniform probabilities (zero logits) for a
    cross-entropy, -log(1/C) for C classes; for a regression, 0 predicted for the targets standardised (1 for
    mean squared error).  None for other losses, for one class and for constant targets."""
    y = np.asarray(y)
    if spec.family in ("categorical", "sparse") and units == 1:
        return None  # one class: no chance level, the loss is 0 whatever the model does
    if spec.is_cross_entropy:
        uniform = 0.0 if spec.from_logits else 0.5 if spec.family == "binary" else 1.0 / units
        return spec.mean(y, np.full((len(y), units), uniform))
    if spec.family == "regression":
        y = y.astype(np.float64)
        spread = y.std(axis=0)
        if not np.all(spread > 0):
            return None
        return spec.mean((y - y.mean(axis=0)) / spread, np.zeros(y.shape))
    return None


def _initial_loss_is_far(initial: float, chance: float, family: str) -> bool:
    if family == "regression":
        return initial > REGRESSION_LOSS_FACTOR * chance
    return initial > CLASSIFICATION_LOSS_FACTOR * chance or initial < chance / CLASSIFICATION_LOSS_FACTOR


class Doctor(keras.callbacks.Callback):
    """Watches the training of a functional or sequential model on a fixed validation sample and confirms or
    adds findings.

    ``x_val`` should be small (a few hundred examples): it is run through the model, and through a probe of
    its relu layers, at the end of every epoch.  ``y_val`` (optional) gives the initial loss on the sample
    and its check against chance; without it the first batch's loss (computed before the first update) is
    the initial loss the first epoch is compared with.  ``static`` holds the findings of ``diagnose``; the report
    is those followed by what training showed.  One Doctor watches one model; a second ``fit`` with the same
    Doctor continues the watch.  A NaN or infinite loss stops training.
    """

    def __init__(self, x_val, y_val=None, static: Report | Iterable[Finding] = ()):
        super().__init__()
        self.x_val, self.y_val = x_val, None if y_val is None else np.asarray(y_val)
        self.static = list(static.findings if isinstance(static, Report) else static)
        self.findings: list[Finding] = []
        self.initial_loss: float | None = None
        self.chance_loss: float | None = None
        self.history: list[dict] = []  # per epoch: loss, largest update ratio, dead relu share, prediction spread
        self._watching = False
        self._steps = 0
        self._epochs = 0
        self._zero_epochs = 0
        self._weights_before: list[tuple[str, list[np.ndarray]]] = []
        self._relu_probe: LayerProbe | None = None

    # -- what the callback reports
    @property
    def report(self) -> Report:
        spec = read_loss(self.model) if self.model is not None else None
        return merged(self.static, self.findings, {
            "loss_family": spec.family if spec else None, "initial_loss": self.initial_loss,
            "chance_loss": self.chance_loss, "epochs": list(self.history)})

    def __str__(self) -> str:
        return str(self.report)

    def _repr_html_(self) -> str:
        return self.report._repr_html_()

    def _add(self, kind: str, layer: str, evidence: str, fix: str, epoch: int) -> None:
        """Record a training finding, once per kind."""
        if all(f.kind != kind for f in self.findings):
            self.findings.append(Finding(kind, layer, evidence, fix, confirmed=True, epoch=epoch))

    # -- Keras hooks
    def on_train_begin(self, logs=None):
        if self._watching:
            return
        self._watching = True
        self._relu_probe = hidden_relu_probe(self.model)
        if self.y_val is not None:
            predictions = self.model(self.x_val, training=False)
            loss = self.model.compute_loss(x=self.x_val, y=self.y_val, y_pred=predictions, training=False)
            self.initial_loss = float(keras.ops.convert_to_numpy(loss))
            self._check_initial_loss()

    def on_epoch_begin(self, epoch, logs=None):
        self._weights_before = self._weights()[:-1]

    def on_train_batch_end(self, batch, logs=None):
        self._steps += 1
        loss = float(keras.ops.convert_to_numpy(logs["loss"]))
        if self.initial_loss is None:  # no y_val: the first batch's loss, computed before its update
            self.initial_loss = loss
        if not math.isfinite(loss):
            self._add("nan", "", f"the training loss became {loss} at step {self._steps} "
                      f"(epoch {self._epochs + 1}, batch {batch + 1}); training stopped.", _NAN_FIX,
                      self._epochs + 1)
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        self._epochs += 1
        n = self._epochs
        predictions = keras.ops.convert_to_numpy(self.model(self.x_val, training=False))
        dead = dead_relu_units(self.model, self.x_val, self._relu_probe)
        dead_share = _dead_share(dead)
        weights = self._weights()
        ratio_layer, ratio = self._largest_update_ratio(weights[:-1])
        loss = float(keras.ops.convert_to_numpy((logs or {}).get("loss", math.nan)))
        self.history.append({"loss": loss, "update_ratio": ratio, "dead_relu_share": dead_share,
                             "prediction_spread": float(np.ptp(predictions)) if _finite(predictions) else math.nan})
        self._check_weights(n, weights)
        self._check_learning_rate(n, loss, ratio_layer, ratio, dead_share)
        self._check_dead_relu(n, dead, dead_share)
        self._check_predictions(n, predictions)

    # -- measurements
    def _weights(self) -> list[tuple[str, list[np.ndarray]]]:
        """(layer name, float64 copies of its trainable weights) for every layer that has any, nested ones
        included, the output layer last."""
        return [(layer.name, [np.asarray(w.numpy(), dtype=np.float64) for w in layer.trainable_weights])
                for layer in _leaf_layers(self.model) if layer.trainable_weights]

    def _largest_update_ratio(self, hidden: list[tuple[str, list[np.ndarray]]]) -> tuple[str, float]:
        """(layer, ratio) of the hidden layer whose weights moved most this epoch, as a share of their norm.

        The output layer is left out: it starts as a random map to the targets and a sound run moves it
        furthest (up to 0.30 of its norm in an epoch on the catalogue's twins), while the hidden layers of
        sound runs move less than half the threshold.
        """
        best = ("", 0.0)
        for (name, before), (_, after) in zip(self._weights_before, hidden):
            size = _norm(before)
            moved = _norm([a - b for a, b in zip(after, before)])
            if size > 0 and moved / size > best[1]:
                best = (name, moved / size)
        return best

    # -- checks
    def _check_initial_loss(self) -> None:
        """The loss on the validation sample before any update, against chance (``chance_loss``)."""
        spec = read_loss(self.model)
        if spec is None or len(self.model.outputs) != 1 or not math.isfinite(self.initial_loss):
            return
        chance = self.chance_loss = chance_loss(spec, self.y_val, int(self.model.outputs[0].shape[-1]))
        if chance is None or not _initial_loss_is_far(self.initial_loss, chance, spec.family):
            return
        reference = "the loss of predicting 0 on the standardised targets" if spec.family == "regression" else "chance"
        self._add("initial-loss", "", f"initial loss {self.initial_loss:.4g} on the validation sample is "
                  f"{self.initial_loss / chance:.3g} times {reference} ({chance:.4g}).",
                  _initial_loss_fix(spec.family), 0)

    def _check_weights(self, epoch: int, weights: list[tuple[str, list[np.ndarray]]]) -> None:
        bad = [name for name, arrays in weights if not all(_finite(a) for a in arrays)]
        if bad:
            self._add("nan", bad[0], f"weights of {len(bad)} layer(s) ({', '.join(bad[:3])}) are NaN or "
                      f"infinite after epoch {epoch}.", _NAN_FIX, epoch)
            self.model.stop_training = True

    def _check_learning_rate(self, epoch: int, loss: float, layer: str, ratio: float, dead_share: float) -> None:
        jumped = (epoch == 1 and self.initial_loss is not None and self.initial_loss > 0
                  and loss > LOSS_JUMP * self.initial_loss)
        optimizer = getattr(self.model.optimizer, "inner_optimizer", self.model.optimizer)
        rate, _ = learning_rate_of(optimizer)
        # Large steps alone are no bug: Adam at 1e-3 moves the first layer of the lessons' heads by 0.13 of its
        # norm in a sound first epoch.  They confirm a suspected adaptive rate, or come with dead units.
        suspected = isinstance(optimizer, ADAPTIVE_OPTIMIZERS) and rate >= SUSPECT_ADAPTIVE_RATE
        moved = ratio > UPDATE_RATIO and (suspected or dead_share > DEAD_RELU_SHARE)
        if not (jumped or moved):
            return
        parts = []
        if jumped:
            parts.append(f"first-epoch loss {loss:.4g} is {loss / self.initial_loss:.3g} times the initial "
                         f"{self.initial_loss:.4g} (threshold {LOSS_JUMP:g})")
        if layer:
            parts.append(f"largest update/weight ratio over the epoch {ratio:.3g} at {layer} "
                         f"(threshold {UPDATE_RATIO:g})")
        parts.append(f"{dead_share:.0%} of the hidden relu units dead")
        self._add("learning-rate", layer, f"{type(optimizer).__name__} at {rate:g}: " + "; ".join(parts) + ".",
                  "lower the learning rate tenfold at a time until the loss falls steadily (1e-3 for Adam).",
                  epoch)

    def _check_dead_relu(self, epoch: int, dead: list[tuple[str, int, int]], share: float) -> None:
        if share <= DEAD_RELU_SHARE:
            return
        worst = max(dead, key=lambda d: d[1] / d[2])
        per_layer = ", ".join(f"{name} {d}/{u}" for name, d, u in dead)
        self._add("dead-relu", worst[0], f"{share:.0%} of the hidden relu units output 0 for all "
                  f"{_examples(self.x_val)} validation inputs ({per_layer}).",
                  "lower the learning rate; if units die anyway, use he_normal initialisation or LeakyReLU.",
                  epoch)

    def _check_predictions(self, epoch: int, predictions: np.ndarray) -> None:
        if not _finite(predictions):
            return
        spread = float(np.max(np.ptp(predictions.reshape(len(predictions), -1), axis=0)))
        if spread <= FLOAT32_TOLERANCE:
            self._add("collapsed-output", output_layer(self.model).name,
                      f"all {len(predictions)} validation predictions equal {float(predictions.flat[0]):.6g} "
                      f"(spread {spread:.2g} <= {FLOAT32_TOLERANCE:g}) after epoch {epoch}.",
                      "look at the other findings: a dead network, a saturated output or a loss without "
                      "gradient all give one answer for every input.", epoch)
        # Exactly 0, on purpose: a dead relu output is max(0, x) with x < 0 for every input, 0.0 on every kernel
        # family; a tolerance would also count a live output that predicts values near 0.
        self._zero_epochs = self._zero_epochs + 1 if np.all(predictions == 0) else 0
        if self._zero_epochs >= 2:
            self._add("dead-output", output_layer(self.model).name,
                      f"every validation prediction is exactly 0 after epochs {epoch - 1} and {epoch}: the "
                      "output relu gets no gradient for any input.",
                      "use a linear output for a regression (or softplus if it must stay positive).", epoch)


_NAN_FIX = ("lower the learning rate (tenfold at a time) or clip gradients (clipnorm=1.0), and check the data "
            "for NaN or infinite values.")


def _initial_loss_fix(family: str) -> str:
    if family == "regression":
        return ("standardise the targets (subtract the mean, divide by the standard deviation) and undo it on "
                "the predictions.")
    return "check the output layer and the loss: at initialisation a classifier should score close to -log(1/C)."


def _norm(arrays: list[np.ndarray]) -> float:
    """The Euclidean norm of several arrays taken together (float64: float32 squares overflow past 1.8e19)."""
    return math.sqrt(sum(float(np.sum(np.square(a))) for a in arrays))


def _examples(x) -> int:
    """How many examples ``x`` (an array, or a list or dict of them) holds."""
    return len(keras.tree.flatten(x)[0])


def _leaf_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """The model's layers with nested models replaced by their own layers."""
    leaves = []
    for layer in model.layers:
        leaves += _leaf_layers(layer) if isinstance(layer, keras.Model) else [layer]
    return leaves


# ----------------------------------------------------------------------------------------------- examine

def examine(model: keras.Model, x, y, x_val, y_val, epochs: int = 3, batch_size: int = 32,
            seed: int = 0) -> Report:
    """``diagnose`` the compiled model, train it for ``epochs`` with a ``Doctor`` on ``(x_val, y_val)``, and
    return the combined report.

    The training order is one NumPy permutation under ``seed`` (``shuffle=False``), and ``seed`` seeds
    Keras's generators, so the same call gives the same report run to run on the same kernels.
    """
    doctor = Doctor(x_val, y_val, static=diagnose(model, x, y))
    keras.utils.set_random_seed(seed)
    y = np.asarray(y)
    order = np.random.default_rng(seed).permutation(len(y))
    with warnings.catch_warnings():  # Keras's warning of a softmax over one unit: the report quotes it, once
        warnings.filterwarnings("ignore", message="You are using a softmax over axis")
        model.fit(keras.tree.map_structure(lambda a: np.asarray(a)[order], x), y[order], epochs=epochs,
                  batch_size=batch_size, shuffle=False, verbose=0, callbacks=[doctor])
    return doctor.report
