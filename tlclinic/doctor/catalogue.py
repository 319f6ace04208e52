"""Small programs that won't train, each with its correct twin, to measure what ``tlclinic.doctor`` finds.

Every program trains a small network (one hidden relu layer of 32 units unless the bug needs more) for 3
epochs at batch 32 on synthetic data drawn from its seed: 128 training and 128 validation examples of 16
standard-normal features, with a learnable rule (the sign or the argmax of linear scores, or a smooth
regression target).  The buggy program must get its expected kind; its twin, the same program with the bug
fixed, must get no finding at all (twins that several bugs share run once).  Each program is a function
``build(seed) -> Case``, deterministic under ``keras.utils.set_random_seed(seed)``; ``examine`` orders the
training data with a NumPy permutation of the same seed.  ``run_catalogue(seeds)`` runs ``examine`` on every
program and twin at every seed; ``table``, ``false_alarms`` and ``margins`` sum up its rows.  The command

    python -m tlclinic.commands.catalogue --seeds 5

(``tlclinic/commands/catalogue.py``) prints the detections and false alarms as a Markdown table, then the measured
margins of the thresholds.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Callable, NamedTuple

import keras
import numpy as np
from keras import layers

from . import REGRESSION_LOSS_FACTOR, Report, examine

N_TRAIN, N_VAL, FEATURES = 128, 128, 16
EPOCHS, BATCH_SIZE = 3, 32
HIDDEN = 32
# The optimizer of every program whose bug is not the optimizer: plain SGD, whose training step traces in about
# a third of the time Adam's takes (0.4 s against 1.2 s of CPU here), which is most of what the catalogue costs.
SGD_RATE = 0.01


class Case(NamedTuple):
    """A compiled model with its training data and its fixed validation sample."""

    model: keras.Model
    x: np.ndarray
    y: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray


# --------------------------------------------------------------------------------------------------- data

def _features(rng: np.random.Generator) -> np.ndarray:
    return rng.normal(size=(N_TRAIN + N_VAL, FEATURES)).astype("float32")


def binary_data(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Features and 0/1 labels: the sign of a random linear score (about half of each class)."""
    rng = np.random.default_rng(seed)
    x = _features(rng)
    return x, (x @ rng.normal(size=FEATURES) > 0).astype("float32")


def three_class_data(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Features and labels 0, 1, 2: the argmax of three random linear scores."""
    rng = np.random.default_rng(seed)
    x = _features(rng)
    return x, np.argmax(x @ rng.normal(size=(FEATURES, 3)), axis=1).astype("int32")


def backbone_features_data(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Non-negative features, as a frozen backbone's pooled relu outputs are, and 0/1 labels: a random
    linear score above its median.  On such inputs one large step can turn a relu off for every input."""
    rng = np.random.default_rng(seed)
    x = np.maximum(0, _features(rng))
    score = x @ rng.normal(size=FEATURES)
    return x, (score > np.median(score)).astype("float32")


def regression_data(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Features and a standardised target (mean 0, standard deviation 1, half of it negative): a linear
    score plus a sine of one feature."""
    rng = np.random.default_rng(seed)
    x = _features(rng)
    t = x @ rng.normal(size=FEATURES) / math.sqrt(FEATURES) + np.sin(2 * x[:, 0])
    return x, ((t - t.mean()) / t.std()).astype("float32")


def _case(model: keras.Model, x: np.ndarray, y: np.ndarray) -> Case:
    return Case(model, x[:N_TRAIN], y[:N_TRAIN], x[N_TRAIN:], y[N_TRAIN:])


# ------------------------------------------------------------------------------------------------- models

def _default_optimizer() -> keras.optimizers.Optimizer:
    return keras.optimizers.SGD(SGD_RATE)


def _sequential(seed: int, body: list[keras.layers.Layer], loss, optimizer=None) -> keras.Model:
    """A hidden relu layer of ``HIDDEN`` units and then ``body``, weights drawn under ``seed``."""
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((FEATURES,)), layers.Dense(HIDDEN, activation="relu"), *body])
    model.compile(optimizer=optimizer or _default_optimizer(), loss=loss)
    return model


def _functional(seed: int, body: list[keras.layers.Layer], loss, optimizer=None) -> keras.Model:
    """The same network as ``_sequential``, written with the functional API."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((FEATURES,))
    h = inputs
    for layer in [layers.Dense(HIDDEN, activation="relu"), *body]:
        h = layer(h)
    model = keras.Model(inputs, h)
    model.compile(optimizer=optimizer or _default_optimizer(), loss=loss)
    return model


def _relu_layer_mlp(seed: int, learning_rate: float) -> keras.Model:
    """Two hidden layers written as Dense + ``ReLU()``, plain SGD at ``learning_rate``, one logit scored by binary
    cross-entropy ``from_logits``.  A logit, not a sigmoid: on a backend whose loss clips a sigmoid's output
    (``symptoms.loss_reads_logits``) the huge rate would saturate the sigmoid and stop training before the relus
    die; with a logit the program fails the same way on every backend."""
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((FEATURES,)), layers.Dense(HIDDEN), layers.ReLU(),
                              layers.Dense(HIDDEN), layers.ReLU(), layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate),
                  loss=keras.losses.BinaryCrossentropy(from_logits=True))
    return model


# ---------------------------------------------------------------------------------- the programs and twins
# Each function builds one program at a seed: its compiled model and its data, as a ``Case``.

def softmax_one_unit(seed):
    x, y = binary_data(seed)
    return _case(_sequential(seed, [layers.Dense(1, activation="softmax")], "binary_crossentropy"), x, y)


def sigmoid_one_unit(seed):
    x, y = binary_data(seed)
    return _case(_sequential(seed, [layers.Dense(1, activation="sigmoid")], "binary_crossentropy"), x, y)


def softmax_activation_after_one_unit(seed):
    x, y = binary_data(seed)
    return _case(_sequential(seed, [layers.Dense(1), layers.Activation("softmax")], "binary_crossentropy"), x, y)


def sigmoid_activation_after_one_unit(seed):
    x, y = binary_data(seed)
    return _case(_sequential(seed, [layers.Dense(1), layers.Activation("sigmoid")], "binary_crossentropy"), x, y)


def softmax_layer_after_one_unit(seed):
    x, y = binary_data(seed)
    return _case(_functional(seed, [layers.Dense(1), layers.Softmax()], "binary_crossentropy"), x, y)


def softmax_layer_after_two_units(seed):
    x, y = binary_data(seed)
    return _case(_functional(seed, [layers.Dense(2), layers.Softmax()], "sparse_categorical_crossentropy"),
                 x, y.astype("int32"))


def relu_output_negative_targets(seed):
    x, y = regression_data(seed)
    return _case(_sequential(seed, [layers.Dense(1, activation="relu")], "mse"), x, y)


def softplus_output_negative_targets(seed):
    x, y = regression_data(seed)
    return _case(_sequential(seed, [layers.Dense(1, activation="softplus")], "mse"), x, y)


def linear_output(seed):
    x, y = regression_data(seed)
    return _case(_sequential(seed, [layers.Dense(1)], "mse"), x, y)


def _zero_to_five(y: np.ndarray) -> np.ndarray:
    return (5 / (1 + np.exp(-y))).astype("float32")


def tanh_output_targets_0_to_5(seed):
    x, y = regression_data(seed)
    return _case(_sequential(seed, [layers.Dense(1, activation="tanh")], "mse"), x, _zero_to_five(y))


def linear_output_targets_0_to_5(seed):
    x, y = regression_data(seed)
    return _case(_sequential(seed, [layers.Dense(1)], "mse"), x, _zero_to_five(y))


def unscaled_targets(seed):
    x, y = regression_data(seed)
    return _case(_sequential(seed, [layers.Dense(1)], "mse"), x, 1000 * y)


def one_sigmoid_for_three_classes(seed):
    x, y = three_class_data(seed)
    return _case(_sequential(seed, [layers.Dense(1, activation="sigmoid")], "mse"), x, y.astype("float32"))


def softmax_three_classes(seed):
    x, y = three_class_data(seed)
    return _case(_sequential(seed, [layers.Dense(3, activation="softmax")], "sparse_categorical_crossentropy"), x, y)


def binary_crossentropy_on_three_values(seed):
    x, y = three_class_data(seed)
    return _case(_sequential(seed, [layers.Dense(1, activation="sigmoid")], "binary_crossentropy"),
                 x, y.astype("float32"))


def mse_on_softmax_labels(seed):
    x, y = three_class_data(seed)
    return _case(_sequential(seed, [layers.Dense(3, activation="softmax")], "mse"), x, y[:, None])


def sigmoid_categorical_crossentropy(seed):
    x, y = binary_data(seed)
    return _case(_sequential(seed, [layers.Dense(1, activation="sigmoid")], "categorical_crossentropy"),
                 x, y[:, None])


def categorical_crossentropy_one_logit(seed):
    x, y = binary_data(seed)
    loss = keras.losses.CategoricalCrossentropy(from_logits=True)
    return _case(_sequential(seed, [layers.Dense(1)], loss), x, y[:, None])


def binary_crossentropy_one_logit(seed):
    x, y = binary_data(seed)
    return _case(_sequential(seed, [layers.Dense(1)], keras.losses.BinaryCrossentropy(from_logits=True)),
                 x, y[:, None])


def binary_crossentropy_on_linear_output(seed):
    x, y = binary_data(seed)
    return _case(_sequential(seed, [layers.Dense(1)], keras.losses.BinaryCrossentropy()), x, y[:, None])


def binary_classifier_with(optimizer: Callable[[], keras.optimizers.Optimizer]) -> Callable:
    """The binary classification program trained with a new ``optimizer()``: the learning-rate programs and
    their twins differ in nothing else."""
    def build(seed):
        x, y = binary_data(seed)
        return _case(_sequential(seed, [layers.Dense(1, activation="sigmoid")], "binary_crossentropy", optimizer()),
                     x, y)

    return build


adam_at_0_1 = binary_classifier_with(lambda: keras.optimizers.Adam(0.1))
adam_at_1e_3 = binary_classifier_with(lambda: keras.optimizers.Adam(1e-3))
adam_schedule_from_0_1 = binary_classifier_with(lambda: keras.optimizers.Adam(
    keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=100, decay_rate=0.5)))
rmsprop_at_0_5 = binary_classifier_with(lambda: keras.optimizers.RMSprop(0.5))
rmsprop_at_1e_3 = binary_classifier_with(lambda: keras.optimizers.RMSprop(1e-3))


def relu_layers_at_huge_rate(seed):
    x, y = backbone_features_data(seed)
    return _case(_relu_layer_mlp(seed, 10.0), x, y)


def relu_layers_at_default_rate(seed):
    x, y = backbone_features_data(seed)
    return _case(_relu_layer_mlp(seed, SGD_RATE), x, y)


def _tanh_mlp(seed: int, learning_rate: float) -> keras.Model:
    """Two tanh layers, a sigmoid output scored by mean squared error, plain SGD at ``learning_rate``."""
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((FEATURES,)), layers.Dense(HIDDEN, activation="tanh"),
                              layers.Dense(HIDDEN, activation="tanh"), layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate), loss="mse")
    return model


def tanh_layers_at_sgd_1e4(seed):
    x, y = binary_data(seed)
    return _case(_tanh_mlp(seed, 1e4), x, y)


def tanh_layers_at_sgd_0_5(seed):
    x, y = binary_data(seed)
    return _case(_tanh_mlp(seed, 0.5), x, y)


def sgd_overflowing(seed):
    x, y = regression_data(seed)
    return _case(_sequential(seed, [layers.Dense(1)], "mse", keras.optimizers.SGD(10.0)), x, y)


@dataclass(frozen=True)
class Program:
    """A program that won't train (``build``), the kind the doctor must name, and its fixed ``twin``.

    ``source``: the public question it comes from (``questions.QUESTIONS``), "" for the catalogue's own;
    ``twin_broken``: why the twin, a question's accepted fix, does not train either ("" when it does): findings
    on such a twin are no false alarms; ``note``: what else the table should say of the program (that the bug
    trains on TensorFlow...); ``epochs`` and ``batch_size``: the question's own, when they matter (None: the
    catalogue's).
    """

    name: str
    build: Callable[[int], Case]
    twin: Callable[[int], Case]
    expected: str
    source: str = ""
    twin_broken: str = ""
    note: str = ""
    epochs: int | None = None
    batch_size: int | None = None


PROGRAMS = (
    Program("Dense(1, softmax) for two classes", softmax_one_unit, sigmoid_one_unit, "softmax-one-unit"),
    Program("Activation('softmax') after Dense(1)", softmax_activation_after_one_unit,
            sigmoid_activation_after_one_unit, "softmax-one-unit"),
    Program("layers.Softmax() after Dense(1)", softmax_layer_after_one_unit, softmax_layer_after_two_units,
            "softmax-one-unit"),
    Program("relu output, negative targets", relu_output_negative_targets, linear_output, "output-range"),
    Program("softplus output, negative targets", softplus_output_negative_targets, linear_output, "output-range"),
    Program("tanh output, targets in [0, 5]", tanh_output_targets_0_to_5, linear_output_targets_0_to_5,
            "output-range"),
    Program("one sigmoid unit for three classes", one_sigmoid_for_three_classes, softmax_three_classes,
            "output-range"),
    Program("sigmoid with categorical cross-entropy", sigmoid_categorical_crossentropy, sigmoid_one_unit,
            "loss-mismatch"),
    Program("categorical cross-entropy on one unit", categorical_crossentropy_one_logit,
            binary_crossentropy_one_logit, "loss-mismatch"),
    Program("binary cross-entropy on 3 label values", binary_crossentropy_on_three_values, softmax_three_classes,
            "loss-mismatch"),
    Program("softmax with mean squared error on integer labels", mse_on_softmax_labels, softmax_three_classes,
            "loss-mismatch"),
    Program("binary cross-entropy on a linear output", binary_crossentropy_on_linear_output,
            binary_crossentropy_one_logit, "loss-mismatch"),
    Program("regression targets x1000", unscaled_targets, linear_output, "initial-loss"),
    Program("Adam at 0.1 on a relu MLP", adam_at_0_1, adam_at_1e_3, "learning-rate"),
    Program("Adam with a schedule starting at 0.1", adam_schedule_from_0_1, adam_at_1e_3, "learning-rate"),
    Program("RMSprop at 0.5", rmsprop_at_0_5, rmsprop_at_1e_3, "learning-rate"),
    Program("ReLU() layers at SGD 10 on backbone features", relu_layers_at_huge_rate, relu_layers_at_default_rate,
            "dead-relu"),
    Program("plain SGD at 10 on a regression", sgd_overflowing, linear_output, "nan"),
    Program("tanh layers at plain SGD 1e4, MSE on a sigmoid", tanh_layers_at_sgd_1e4, tanh_layers_at_sgd_0_5,
            "learning-rate"),
)


# ----------------------------------------------------------------------------------------------- running

@dataclass(frozen=True)
class Row:
    """One ``examine`` of a program (``variant`` "bug") or of its twin ("twin") at one seed."""

    program: str
    variant: str
    seed: int
    expected: str | None  # the kind that must be found; None for a twin, on which nothing must be
    report: Report
    twin_broken: str = ""  # why the twin does not train either: its findings are no false alarms

    @property
    def passed(self) -> bool:
        """The bug's expected kind is found; the twin has no finding (or does not work, see ``twin_broken``)."""
        if self.expected:
            return self.expected in self.report.kinds
        return bool(self.twin_broken) or not self.report.findings

    @property
    def epoch(self) -> int | None:
        """The epoch the expected kind was found at (None: before training)."""
        return next(f.epoch for f in self.report.findings if f.kind == self.expected)


def _signature(model: keras.Model) -> str:
    """What a traced training step depends on: the model's and its compile configuration, with the model's,
    its layers' and its optimizer's names replaced by their positions and a numeric learning rate left out
    (the optimizer keeps it in a variable)."""
    compile_config = model.get_compile_config()
    optimizer_config = compile_config["optimizer"]["config"]
    if not isinstance(optimizer_config.get("learning_rate"), dict):  # a schedule is part of the graph
        optimizer_config.pop("learning_rate", None)
    config = model.get_config()
    names = [model.name, model.optimizer.name, *(entry["config"]["name"] for entry in config["layers"])]
    text = json.dumps([config, compile_config], sort_keys=True, default=str)
    for position, name in enumerate(names):  # input layers included: a Sequential lists them among its layers
        text = text.replace(json.dumps(name), f'"#{position}"')
    return text


class _KeptModels:
    """One compiled model per architecture, loss and optimizer, given each run's fresh weights and optimizer
    state.

    Training a kept model again reuses its traced training function, where a new model would trace its own:
    the programs that differ only in their data or their learning rate, and every program at its second seed,
    run on a kept model.  Each run starts exactly where ``build(seed)`` starts: its weights and its optimizer's
    variables (the step count, the learning rate, the moments) are copied from the fresh build.
    """

    def __init__(self):
        self._kept: dict[str, keras.Model] = {}

    def case(self, build: Callable[[int], Case], seed: int) -> Case:
        fresh = build(seed)
        model = fresh.model
        model.optimizer.build(model.trainable_variables)
        kept = self._kept.setdefault(_signature(model), model)
        if kept is model:
            return fresh
        for variable, value in zip(kept.variables, model.variables):
            variable.assign(value)
        for variable, value in zip(kept.optimizer.variables, model.optimizer.variables):
            variable.assign(value)
        return fresh._replace(model=kept)


def run_catalogue(seeds, programs=PROGRAMS, epochs: int = EPOCHS, batch_size: int = BATCH_SIZE) -> list[Row]:
    """``examine`` every program and its twin at every seed; a twin shared by several programs runs once."""
    kept, twin_reports, rows = _KeptModels(), {}, []
    for seed in seeds:
        for program in programs:
            runs = (program.epochs or epochs, program.batch_size or batch_size, seed)
            rows.append(Row(program.name, "bug", seed, program.expected,
                            _examine(kept.case(program.build, seed), *runs)))
            key = (program.twin, seed)
            if key not in twin_reports:
                twin_reports[key] = _examine(kept.case(program.twin, seed), *runs)
            rows.append(Row(program.name, "twin", seed, None, twin_reports[key], program.twin_broken))
    return rows


def _examine(case: Case, epochs: int, batch_size: int, seed: int) -> Report:
    return examine(case.model, case.x, case.y, case.x_val, case.y_val, epochs=epochs, batch_size=batch_size,
                   seed=seed)


# ----------------------------------------------------------------------------------------------- summaries

def _epochs_text(epochs: list[int | None]) -> str:
    """When the expected kind was found over the seeds: before training (static), before the first update
    (the initial loss), or the first and last epoch it took."""
    if not epochs:
        return "-"
    if all(e is None for e in epochs):
        return "before training"
    numbers = sorted({0 if e is None else e for e in epochs})
    if numbers == [0]:
        return "before the first update"
    return f"epoch {numbers[0]}" + (f"-{numbers[-1]}" if len(numbers) > 1 else "")


def table(rows: list[Row]) -> str:
    """The Markdown table of detections and false alarms, one line per program, and a totals line."""
    backend = keras.backend.backend()
    names = list(dict.fromkeys(r.program for r in rows))
    lines = ["| program | expected | detected | false alarms on twin | epoch of detection | backend |",
             "|---|---|---|---|---|---|"]
    found = alarms = bugs = twins = 0
    for name in names:
        bug = [r for r in rows if r.program == name and r.variant == "bug"]
        twin = [r for r in rows if r.program == name and r.variant == "twin"]
        hits = [r for r in bug if r.passed]
        false = [r for r in twin if not r.passed]
        found, alarms, bugs, twins = found + len(hits), alarms + len(false), bugs + len(bug), twins + len(twin)
        lines.append(f"| {name} | {bug[0].expected} | {len(hits)}/{len(bug)} | {len(false)}/{len(twin)} | "
                     f"{_epochs_text([r.epoch for r in hits])} | {backend} |")
    lines.append(f"\nTotals: detected {found}/{bugs}, false alarms on twins {alarms}/{twins}.")
    return "\n".join(lines)


def questions_table(rows: list[Row], programs) -> str:
    """The Markdown table of the real questions' programs: as ``table``, with each thread and what its fix does."""
    backend = keras.backend.backend()
    lines = ["| program | thread | expected | detected | false alarms on twin | epoch of detection | notes | backend |",
             "|---|---|---|---|---|---|---|---|"]
    found = alarms = bugs = twins = broken = 0
    for program in programs:
        bug = [r for r in rows if r.program == program.name and r.variant == "bug"]
        twin = [r for r in rows if r.program == program.name and r.variant == "twin"]
        if not bug:
            continue
        hits = [r for r in bug if r.passed]
        false = [r for r in twin if not r.passed]
        found, bugs = found + len(hits), bugs + len(bug)
        if program.twin_broken:
            broken += len(twin)
            twin_cell = f"n/a ({len([r for r in twin if r.report.findings])}/{len(twin)} runs with findings)"
        else:
            alarms, twins = alarms + len(false), twins + len(twin)
            twin_cell = f"{len(false)}/{len(twin)}"
        notes = "; ".join(n for n in (f"the accepted fix is broken: {program.twin_broken}" if program.twin_broken
                                      else "", program.note) if n) or "-"
        lines.append(f"| {program.name} | [{_thread(program.source)}]({program.source}) | {program.expected} | "
                     f"{len(hits)}/{len(bug)} | {twin_cell} | {_epochs_text([r.epoch for r in hits])} | {notes} | "
                     f"{backend} |")
    lines.append(f"\nTotals: detected {found}/{bugs}, false alarms on working twins {alarms}/{twins}"
                 + (f" ({broken} runs of twins whose accepted fix is itself broken are not counted)." if broken
                    else "."))
    return "\n".join(lines)


def _thread(url: str) -> str:
    """A short name for a thread's address: owner/repo#N for GitHub, site N for Stack Exchange."""
    parts = url.rstrip("/").split("/")
    if "github.com" in url:
        return f"{parts[3]}/{parts[4]}#{parts[6]}"
    return f"{'SO' if 'stackoverflow' in url else parts[2].split('.')[0] + '.SE'} {parts[4]}"


def false_alarms(rows: list[Row]) -> list[str]:
    """What was found on twins that work, one line per finding (empty when no such twin had any)."""
    return [f"{r.program} (twin, seed {r.seed}): {f}" for r in rows if r.variant == "twin" and not r.twin_broken
            for f in r.report.findings]


def margins(rows: list[Row]) -> dict[str, float]:
    """How far the catalogue's measurements lie from the doctor's thresholds.

    Twins that work give the largest value seen (it must stay under the threshold); the buggy programs whose bug a
    measurement detects give the smallest of their per-run largest values (it must stay above).  A measurement
    none of the rows has is NaN.
    """
    def largest(row: Row, key: str) -> float:
        values = [e[key] for e in row.report.measurements.get("epochs", []) if math.isfinite(e[key])]
        return max(values, default=math.nan)

    def jump(row: Row) -> float:
        m = row.report.measurements
        first = m["epochs"][0]["loss"] if m.get("epochs") else math.nan
        return first / m["initial_loss"] if m.get("initial_loss") else math.nan

    def initial_over_chance(row: Row) -> float:
        m = row.report.measurements
        return m["initial_loss"] / m["chance_loss"] if m.get("chance_loss") else math.nan

    def measured(row: Row, key: str) -> float:
        value = row.report.measurements.get(key)
        return math.nan if value is None else float(value)

    def most(values) -> float:
        values = [v for v in values if math.isfinite(v)]
        return max(values) if values else math.nan

    def least(values) -> float:
        values = [v for v in values if math.isfinite(v)]
        return min(values) if values else math.nan

    twins = [r for r in rows if r.variant == "twin" and not r.twin_broken]
    bugs = {kind: [r for r in rows if r.variant == "bug" and r.expected == kind] for kind in
            ("dead-relu", "learning-rate", "initial-loss", "unscaled-inputs")}
    regression = [r for r in twins if r.report.measurements.get("loss_family") == "regression"]
    classification = [r for r in twins if r.report.measurements.get("loss_family") != "regression"]
    ratios = [initial_over_chance(r) for r in classification]
    far = [r for r in bugs["initial-loss"] if r.report.measurements.get("loss_family") == "regression"]
    return {
        "dead relu share, twins (max)": most(largest(r, "dead_relu_share") for r in twins),
        "dead relu share, dead-relu programs (min of max)": least(largest(r, "dead_relu_share")
                                                                  for r in bugs["dead-relu"]),
        "first-epoch loss / initial loss, twins (max)": most(jump(r) for r in twins),
        "update ratio, twins (max)": most(largest(r, "update_ratio") for r in twins),
        "update ratio, learning-rate programs (min of max)": least(largest(r, "update_ratio")
                                                                   for r in bugs["learning-rate"]),
        "update ratio, learning-rate programs named by the ratio alone (min of max)": least(
            largest(r, "update_ratio") for r in bugs["learning-rate"]
            if any("whatever the optimizer" in f.evidence for f in r.report.of("learning-rate"))),
        "initial loss / chance, classification twins (min)": least(ratios),
        "initial loss / chance, classification twins (max)": most(ratios),
        "initial loss / reference, regression twins (max)": most(initial_over_chance(r) for r in regression),
        "initial loss / reference, initial-loss programs (min)": least(initial_over_chance(r) for r in far),
        "target scale, regression twins with an initial loss over the reference factor (max)": most(
            measured(r, "target_scale") for r in regression
            if initial_over_chance(r) > REGRESSION_LOSS_FACTOR),
        "target scale, initial-loss programs (min)": least(measured(r, "target_scale") for r in far),
        "input scale, twins (max)": most(measured(r, "input_scale") for r in twins),
        "input scale, unscaled-inputs programs (min)": least(measured(r, "input_scale") or math.nan
                                                             for r in bugs["unscaled-inputs"]),
    }
