"""``Doctor``, the callback that watches training on a fixed validation sample, and what it measures while
training: the initial loss against chance, the loss, the weights' updates, dead relu units, the predictions."""
from __future__ import annotations

import dataclasses
import math
from typing import Iterable

import keras
import numpy as np

from .findings import (CLASSIFICATION_LOSS_FACTOR, DEAD_RELU_SHARE, EXTREME_UPDATE_RATIO, FLOAT32_TOLERANCE,
                       LOSS_JUMP, LOSS_PLATEAU, REGRESSION_LOSS_FACTOR, SPREAD_GROWTH, SUSPECT_ADAPTIVE_RATE,
                       TARGET_SCALE_FACTOR, UPDATE_RATIO, Finding, Report, merged)
from .probes import LayerProbe, _dead_share, dead_relu_units, hidden_relu_probe
from .reading import (ADAPTIVE_OPTIMIZERS, LossSpec, activation_of, activation_range, leaf_layers, learning_rate_of,
                      output_layer, read_loss)


def _finite(value) -> bool:
    return bool(np.all(np.isfinite(value)))


def chance_loss(spec: LossSpec, y, units: int, shape: tuple | None = None) -> float | None:
    """What a model that knows nothing scores with this loss: uniform probabilities (zero logits) for a
    cross-entropy, -log(1/C) for C classes; for a regression, 0 predicted for the targets standardised (1 for
    mean squared error).  None for other losses, for one class and for constant targets.  ``shape``: one
    example's output shape when it is more than ``(units,)`` (a segmentation map...)."""
    y = np.asarray(y)
    shape = tuple(shape or (units,))
    if spec.family in ("categorical", "sparse") and units == 1:
        return None  # one class: no chance level, the loss is 0 whatever the model does
    if spec.is_cross_entropy:
        uniform = 0.0 if spec.from_logits else 0.5 if spec.family == "binary" else 1.0 / units
        return spec.mean(y, np.full((len(y), *shape), uniform))
    if spec.family == "regression":
        y = y.astype(np.float64)
        spread = y.std(axis=0)
        if not np.all(spread > 0):
            return None
        return spec.mean((y - y.mean(axis=0)) / spread, np.zeros(y.shape))
    return None


def target_scale(model: keras.Model, x, y, predictions) -> float | None:
    """How many times larger than its initialiser made them the last kernel's weights must become to reach the
    regression targets from the initial predictions.

    The last layer with a kernel (a Dense, a convolution) maps its inputs ``h`` to the outputs: moving them by
    the root mean square of (targets - initial predictions) takes kernel entries of about that distance over
    (RMS(h) * sqrt(fan_in)); Glorot's rule, Keras's default, draws them with a standard deviation of
    sqrt(2 / (fan_in + fan_out)).  The ratio is about 1 when the targets have the scale the network starts at,
    whatever the inputs' scale (y = 2x on x up to 200 with one Dense is about 2), and 1000 or more for targets in
    the thousands behind hidden layers of order 1.  None when it cannot be measured."""
    layer = next((l for l in reversed(leaf_layers(model)) if getattr(l, "kernel", None) is not None), None)
    if layer is None or predictions is None or not _finite(predictions):
        return None
    kernel = tuple(layer.kernel.shape)
    fan_in, fan_out = int(np.prod(kernel[:-1])), int(kernel[-1])
    inputs = [value for _, value in LayerProbe(model, lambda l: l is layer, side="input")(x)]
    if not inputs or not _finite(inputs[0]):
        return None
    y = np.asarray(y, dtype=np.float64)
    p = np.asarray(predictions, dtype=np.float64)
    if p.ndim == y.ndim + 1 and p.shape[-1] == 1:
        p = p[..., 0]
    if p.shape != y.shape:
        return None
    distance = math.sqrt(float(np.mean(np.square(y - p))))
    size = math.sqrt(float(np.mean(np.square(inputs[0])))) * math.sqrt(fan_in)
    nominal = math.sqrt(2 / (fan_in + fan_out))
    return distance / size / nominal if size > 0 else math.inf


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
        self.target_scale: float | None = None  # a regression's targets against its initial predictions
        self.initial_spread: float | None = None  # of the predictions on x_val before the first update
        self.history: list[dict] = []  # per epoch: loss, largest update ratio, dead relu share, prediction spread
        self._watching = False
        self._steps = 0
        self._epochs = 0
        self._zero_epochs = 0
        self._last_loss: float | None = None  # the previous epoch's loss (the initial loss before epoch 1)
        self._unjudged: tuple | None = None  # (epoch, predictions) of a last epoch whose collapse is still open
        self._weights_before: list[tuple[str, list[np.ndarray]]] = []
        self._relu_probe: LayerProbe | None = None
        self._initial_predictions: np.ndarray | None = None
        self._output_activation: str | None = None  # the output layer's, read once training begins
        self._output_bounds: tuple[float, float] | None = None  # the lowest and highest values it can give

    # -- what the callback reports
    @property
    def report(self) -> Report:
        spec = read_loss(self.model) if self.model is not None else None
        report = merged(self.static, self.findings, {
            "loss_family": spec.family if spec else None, "initial_loss": self.initial_loss,
            "chance_loss": self.chance_loss, "target_scale": self.target_scale,
            "initial_spread": self.initial_spread, "epochs": list(self.history)})
        report.findings = with_collapse_cause(report.findings)
        return report

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
        output = output_layer(self.model)
        self._output_activation, self._output_bounds = activation_of(output), activation_range(output)
        predictions = self.model(self.x_val, training=False)
        values = self._initial_predictions = keras.ops.convert_to_numpy(predictions)
        self.initial_spread = _spread(values) if _finite(values) else None
        if self.y_val is not None:
            loss = self.model.compute_loss(x=self.x_val, y=self.y_val, y_pred=predictions, training=False)
            self.initial_loss = float(keras.ops.convert_to_numpy(loss))
            self._last_loss = self.initial_loss if math.isfinite(self.initial_loss) else None
            self._check_initial_loss()

    def on_epoch_begin(self, epoch, logs=None):
        self._weights_before = self._weights()[:-1]

    def on_train_batch_end(self, batch, logs=None):
        self._steps += 1
        loss = float(keras.ops.convert_to_numpy(logs["loss"]))
        if self.initial_loss is None:  # no y_val: the first batch's loss, computed before its update
            self.initial_loss = loss
        if self._last_loss is None and math.isfinite(self.initial_loss):
            self._last_loss = self.initial_loss
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
        self._check_learning_rate(n, loss, ratio_layer, ratio, dead_share, self._saturated(predictions))
        self._check_dead_relu(n, dead, dead_share)
        self._check_predictions(n, predictions, loss)
        self._last_loss = loss if math.isfinite(loss) else self._last_loss

    def on_train_end(self, logs=None):
        """The end of training: a last epoch whose predictions were all the same while the loss was still
        falling is judged now."""
        if self._unjudged is not None:
            epoch, predictions = self._unjudged
            self._unjudged = None
            self._check_collapse(epoch, predictions, "training ended")

    # -- measurements
    def _weights(self) -> list[tuple[str, list[np.ndarray]]]:
        """(layer name, float64 copies of its trainable weights) for every layer that has any, nested ones
        included, the output layer last."""
        return [(layer.name, [np.asarray(w.numpy(), dtype=np.float64) for w in layer.trainable_weights])
                for layer in leaf_layers(self.model) if layer.trainable_weights]

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
        output = self.model.outputs[0].shape
        chance = self.chance_loss = chance_loss(spec, self.y_val, int(output[-1]), tuple(output[1:]))
        scale = (target_scale(self.model, self.x_val, self.y_val, self._initial_predictions)
                 if spec.family == "regression" else None)
        self.target_scale = scale
        if chance is None or not _initial_loss_is_far(self.initial_loss, chance, spec.family):
            return
        if scale is not None and scale <= TARGET_SCALE_FACTOR:
            return  # the targets are within reach of weights of the size they start at
        reference = "the loss of predicting 0 on the standardised targets" if spec.family == "regression" else "chance"
        scaled = (f"; to reach the targets the last layer's weights must grow to {scale:.3g} times the size they "
                  f"were initialised at (threshold {TARGET_SCALE_FACTOR:g})" if scale is not None else "")
        self._add("initial-loss", "", f"initial loss {self.initial_loss:.4g} on the validation sample is "
                  f"{self.initial_loss / chance:.3g} times {reference} ({chance:.4g}){scaled}.",
                  _initial_loss_fix(spec.family), 0)

    def _check_weights(self, epoch: int, weights: list[tuple[str, list[np.ndarray]]]) -> None:
        bad = [name for name, arrays in weights if not all(_finite(a) for a in arrays)]
        if bad:
            self._add("nan", bad[0], f"weights of {len(bad)} layer(s) ({', '.join(bad[:3])}) are NaN or "
                      f"infinite after epoch {epoch}.", _NAN_FIX, epoch)
            self.model.stop_training = True

    def _saturated(self, predictions: np.ndarray) -> str:
        """The output activation, when every prediction sits exactly on one of its bounds (a sigmoid's 0 or 1):
        steps so large that no input moves it any more; "" otherwise."""
        bounds = self._output_bounds
        if bounds is None or not _finite(predictions) or self._output_activation == "relu":
            return ""
        # Exactly on a bound, on purpose: a saturated sigmoid gives 0.0 or 1.0 on every kernel family.
        on_bound = np.all((predictions == bounds[0]) | (predictions == bounds[1]))
        return self._output_activation if on_bound else ""

    def _check_learning_rate(self, epoch: int, loss: float, layer: str, ratio: float, dead_share: float,
                             saturated: str = "") -> None:
        jumped = (epoch == 1 and self.initial_loss is not None and self.initial_loss > 0
                  and loss > LOSS_JUMP * self.initial_loss)
        optimizer = getattr(self.model.optimizer, "inner_optimizer", self.model.optimizer)
        rate, _ = learning_rate_of(optimizer)
        # Large steps alone are no bug: Adam at 1e-3 moves the first layer of the lessons' heads by 0.13 of its
        # norm in a sound first epoch.  They confirm a suspected adaptive rate, or come with dead units.
        # An extreme ratio needs no other sign, whatever the optimizer: plain SGD that moves a layer by hundreds of
        # times its norm in an epoch has saturated or overflowed it, however finite the loss still is.  Nor does an
        # output those steps left on its bounds for every input: without TensorFlow's logits shortcut
        # (symptoms.loss_reads_logits) a saturated sigmoid's clipped loss gives no gradient, and the units that
        # would have died on TensorFlow stay as they were.
        suspected = isinstance(optimizer, ADAPTIVE_OPTIMIZERS) and rate >= SUSPECT_ADAPTIVE_RATE
        moved = ((ratio > UPDATE_RATIO and (suspected or dead_share > DEAD_RELU_SHARE or saturated))
                 or ratio > EXTREME_UPDATE_RATIO)
        if not (jumped or moved):
            return
        parts = []
        if jumped:
            parts.append(f"first-epoch loss {loss:.4g} is {loss / self.initial_loss:.3g} times the initial "
                         f"{self.initial_loss:.4g} (threshold {LOSS_JUMP:g})")
        if layer:
            threshold = (f"{EXTREME_UPDATE_RATIO:g} whatever the optimizer" if ratio > EXTREME_UPDATE_RATIO
                         else f"{UPDATE_RATIO:g}")
            parts.append(f"largest update/weight ratio over the epoch {ratio:.3g} at {layer} (threshold {threshold})")
        parts.append(f"{dead_share:.0%} of the hidden relu units dead")
        if saturated:
            parts.append(f"every validation prediction on a bound of the output's {saturated}")
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

    def _check_predictions(self, epoch: int, predictions: np.ndarray, loss: float) -> None:
        if not _finite(predictions):
            return
        self._unjudged = None
        if self._all_same(predictions):
            falling = (self._last_loss is None or not math.isfinite(loss)
                       or loss < (1 - LOSS_PLATEAU) * self._last_loss)
            if falling:  # judged once the loss stops falling, or when training ends
                self._unjudged = (epoch, predictions)
            else:
                self._check_collapse(epoch, predictions, f"the loss stopped falling ({self._last_loss:.4g} -> "
                                                         f"{loss:.4g}, less than {LOSS_PLATEAU:.0%} lower)")
        # Exactly 0, on purpose: a dead relu output is max(0, x) with x < 0 for every input, 0.0 on every kernel
        # family; a tolerance would also count a live output that predicts values near 0.
        output_relu = self._output_activation == "relu"  # a sigmoid's exact 0 is saturation
        self._zero_epochs = self._zero_epochs + 1 if output_relu and np.all(predictions == 0) else 0
        if self._zero_epochs >= 2:
            self._add("dead-output", output_layer(self.model).name,
                      f"every validation prediction is exactly 0 after epochs {epoch - 1} and {epoch}: the "
                      "output relu gets no gradient for any input.",
                      "use a linear output for a regression (or softplus if it must stay positive).", epoch)

    def _all_same(self, predictions: np.ndarray) -> bool:
        """Every prediction equal up to float32 rounding (``FLOAT32_TOLERANCE`` times their magnitude, at least
        1) and their spread across inputs not grown since the start (at most ``SPREAD_GROWTH`` times it): tiny
        initial weights give predictions that differ by less than 1e-6 at first, and that spread grows as they
        learn."""
        spread = _spread(predictions)
        scale = max(1.0, float(np.max(np.abs(predictions))))
        grown = self.initial_spread is not None and spread > SPREAD_GROWTH * self.initial_spread
        return spread <= FLOAT32_TOLERANCE * scale and not grown

    def _check_collapse(self, epoch: int, predictions: np.ndarray, why: str) -> None:
        spread = _spread(predictions)
        before = f"{self.initial_spread:.2g}" if self.initial_spread is not None else "unknown"
        self._add("collapsed-output", output_layer(self.model).name,
                  f"all {len(predictions)} validation predictions equal {float(predictions.flat[0]):.6g} (spread "
                  f"{spread:.2g}, {before} before training) after epoch {epoch}, and {why}.",
                  "look at the other findings: a dead network, a saturated output or a loss without gradient all "
                  "give one answer for every input.", epoch)


# The findings that explain a collapse, most specific first, with what each does to the predictions.
COLLAPSE_CAUSES = {
    "softmax-one-unit": "a softmax over one unit outputs 1.0 for every input",
    "sparse-labels": "the labels all truncate to one class",
    "loss-mismatch": "the loss gives no useful gradient for these outputs and labels",
    "double-activation": "the loss squashes the outputs twice and barely moves them",
    "output-range": "the output activation cannot reach the targets and saturates",
    "unscaled-inputs": "inputs far larger than the first layer expects saturate or swamp its units",
    "learning-rate": "steps too large for the weights threw every unit into the same state",
    "dead-relu": "with the hidden relu units dead, every input reaches the output layer as the same values",
    "dead-output": "the output relu outputs 0 for every input",
    "nothing-trainable": "no weight changes",
    "initial-loss": "the outputs start far from the targets",
}


def with_collapse_cause(findings: list[Finding]) -> list[Finding]:
    """The findings with a collapsed-output finding naming its probable cause: the first other finding, in the
    order of ``COLLAPSE_CAUSES``, with that finding's fix."""
    present = {f.kind: f for f in reversed(findings)}
    cause = next((present[kind] for kind in COLLAPSE_CAUSES if kind in present), None)
    if cause is None:
        return findings
    where = f" at {cause.layer}" if cause.layer else ""
    return [dataclasses.replace(
        f, evidence=f"{f.evidence} Probable cause: {cause.kind}{where} ({COLLAPSE_CAUSES[cause.kind]}).",
        fix=f"fix the {cause.kind}: {cause.fix}") if f.kind == "collapsed-output" else f for f in findings]


_NAN_FIX = ("lower the learning rate (tenfold at a time) or clip gradients (clipnorm=1.0), and check the data "
            "for NaN or infinite values.")


def _initial_loss_fix(family: str) -> str:
    if family == "regression":
        return ("standardise the targets (subtract the mean, divide by the standard deviation) and undo it on "
                "the predictions.")
    return "check the output layer and the loss: at initialisation a classifier should score close to -log(1/C)."


def _spread(predictions: np.ndarray) -> float:
    """The largest range of the predictions across the inputs, over the output units."""
    return float(np.max(np.ptp(predictions.reshape(len(predictions), -1), axis=0)))


def _norm(arrays: list[np.ndarray]) -> float:
    """The Euclidean norm of several arrays taken together (float64: float32 squares overflow past 1.8e19)."""
    return math.sqrt(sum(float(np.sum(np.square(a))) for a in arrays))


def _examples(x) -> int:
    """How many examples ``x`` (an array, or a list or dict of them) holds."""
    return len(keras.tree.flatten(x)[0])
