"""Lesson 03, learning rate 0.1 (question 002, question 000's answer): both fixed heads, trained at the question's rate.

The output layers are the fixed ones of lessons 01 and 02 (sigmoid, linear), so the learning rate is the only
bug.  The heads, their features, training, graded assertions and metrics come from ``tlclinic.tasks``, which
lessons 01 and 02 train and grade with too: the classifier's check at this lesson's accuracy, the regressor's as
lesson 02 grades it.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Callable

import keras
import numpy as np

from ... import calibration, grading, results, tasks
from ...console import quiet
from ...crossing import as_data_and_back
from ...heads import HeadBuilder, OptimizerFactory, adam
from ...live import LiveView, log_slider
from ...plots import side_by_side
from ...symptoms import distinct_values, loss_reads_logits
from ...training import CompiledHeads, Run, detached
from ...doctor import Report, dead_relu_fraction
from ...lesson import Demo, Lesson, converges, demo as demo_result, examine_training
from .figures import draw_run, range_test_figure, sweep_figure  # sweep_figure: the notebook draws it
from .answer import OptimizerAnswer
from .range_test import RangeTest, lr_range_test

Lesson.adopt(__name__)  # this module is a Lesson (tlclinic.lesson): the parts below, the base's defaults for the rest

NAME = "03-learning-rate"
TITLE = "learning rate 0.1"
QUESTIONS = ("002", "000")
DATA = ("shapes", "road")
FAILURE = "Adam at 0.1: the loss jumps, ReLUs die, predictions collapse"
CURE = "a learning rate from a range test"
QUESTION_LEARNING_RATE = 0.1
# The budget: 8 epochs at batch 32.  At 5 (lessons 01 and 02) RMSprop at its default rate of 1e-3, a valid
# choice, reached only 0.71 accuracy on the classifier in some seeds; at 8 it passes every calibrated seed.
EPOCHS, BATCH_SIZE = 8, 32
# Lesson 03 asks the classifier for 0.7 validation accuracy, not lesson 01's 0.8: over 20 seeds at 8 epochs
# (calibration/onednn-0.md) RMSprop(1e-3) reaches 0.83 to 0.94 and Adam(1e-7), which must fail, 0.42 to 0.63.
MIN_CLASSIFIER_ACCURACY = 0.7
SWEEP = (1e-5, 1e-4, 1e-3, 1e-2, 1e-1)  # the learning rates of the "why" plot
COLLAPSE_SEEDS = 10  # seeds searched for a run at 0.1 whose predictions collapse (reproduce, collapse_seed)
NAN_LEARNING_RATE = 1e5  # Adam's step is bounded by its rate: only an absurd one overflows to NaN
# Over 20 seeds at 8 epochs (calibration/onednn-0.md) the share of hidden relu units dead on validation data is at most
# 0.47 at good rates and 0.80 to 1.00 at 0.1, where some classifier seeds still reach 0.94 accuracy on the few units left.
MAX_DEAD_FRACTION = 0.7
# The range test's suggestion is capped at Adam's default rate.  Its lowest point moves by a decade between seeds:
# over seeds 0 to 4 it suggested 1.6e-4 to 2.2e-3 for the classifier on TensorFlow and 8.5e-4 to 9.5e-3 on JAX
# (whose seeds draw other initial weights).  On JAX seed 0 suggested 2.6e-3, which left 62% to 73% of the
# classifier's hidden relus dead over 20 seeds (2 above MAX_DEAD_FRACTION); at 1e-3, 40% to 47% (calibration/).
SUGGESTION_CEILING = 1e-3
CHECK = (f"after {EPOCHS} epochs with your optimizer, the classifier passes lesson 01's check at "
         f"{MIN_CLASSIFIER_ACCURACY} validation accuracy and the regressor lesson 02's, each with at most "
         f"{MAX_DEAD_FRACTION:.0%} of its hidden relu units dead")
CALIBRATION_METRIC = "dead hidden units"  # what calibrate() reports, and beside it each head's own metric
CALIBRATION_ALSO = "val accuracy (classifier) or val Huber loss (regressor)"
ANSWER = OptimizerAnswer("make_optimizer")  # the student writes make_optimizer() -> a new optimizer
# What `make bench` clicks on the slider in the browser, in order: rates a decade and more away, then back to 0.1.
BROWSER_CHOICES = (1e-3, 1e-2, 1e-4, QUESTION_LEARNING_RATE)


@dataclass(frozen=True)
class Task:
    """One of the two fixed heads (``tlclinic.tasks``) with what trains and grades it here."""

    name: str
    build: Callable[[OptimizerFactory], HeadBuilder]
    train: Callable[..., Run]
    features: Callable[[], tuple]
    assert_converged: Callable[[Run], None]
    metric: Callable[[Run], float]  # what the graded check thresholds: accuracy, validation Huber loss
    metric_name: str


TASKS = {
    "classifier": Task("classifier (question 000, sigmoid output)", tasks.fixed_classifier,
                       functools.partial(tasks.train_classifier, batch_size=BATCH_SIZE), tasks.shapes_features,
                       functools.partial(tasks.assert_classifier_converged, min_accuracy=MIN_CLASSIFIER_ACCURACY),
                       tasks.classifier_metric, tasks.CLASSIFIER_METRIC),
    "regressor": Task("regressor (question 002, linear output)", tasks.fixed_regressor,
                      functools.partial(tasks.train_regressor, batch_size=BATCH_SIZE), tasks.road_features,
                      tasks.assert_regressor_converged, tasks.regressor_metric, tasks.REGRESSOR_METRIC),
}


def train(optimizer: OptimizerFactory, seed: int = 0, *, callbacks=(), kept=None, on_epoch=None,
          task: str = "classifier", epochs: int = EPOCHS) -> Run:
    """Train the fixed head of ``task`` ("classifier" or "regressor") with ``optimizer`` for ``epochs``."""
    t = TASKS[task]
    with quiet():
        return t.train(t.build(optimizer), seed, epochs=epochs, callbacks=callbacks, kept=kept, on_epoch=on_epoch)


def reproduce(seed: int | None = None) -> dict[str, Run]:
    """Both fixed heads trained with the questions' Adam at 0.1: at ``seed``, or else each at its
    ``collapse_seed``, the first seed whose predictions collapse to one value (seed 0 when none does)."""
    return {task: train(adam(QUESTION_LEARNING_RATE), collapse_seed(task) if seed is None else seed, task=task)
            for task in TASKS}


def collapse_seed(task: str, seeds=range(COLLAPSE_SEEDS)) -> int:
    """The first of ``seeds`` at which the head of ``task``, trained at 0.1, predicts one value (up to 1e-6).

    At 0.1 every seed's loss jumps and most hidden units die, but which runs end with one constant prediction
    depends on the last bits of the CPU's sums: a few surviving units may still learn.  So the run a lesson
    shows is found here, on this machine, and kept on disk (``results.kept``); seed 0 when none collapses.
    """
    def find() -> int:
        heads = CompiledHeads()  # every seed trains on one traced head
        for seed in seeds:
            run = train(adam(QUESTION_LEARNING_RATE), seed, task=task, kept=(heads, task))
            if distinct_values(run.final_predictions) == 1:
                return seed
        return 0

    return results.kept("collapse-seed", find, task, tuple(seeds))


def initial_loss(task: str, optimizer: OptimizerFactory = adam(), seed: int = 0) -> float:
    """The training loss of the head ``train`` starts from, before any update (same seed, same weights)."""
    t = TASKS[task]
    (x, y), _ = t.features()
    keras.utils.set_random_seed(seed)
    with quiet():
        model = t.build(optimizer)(x.shape[1])
        return float(model.evaluate(x, y, batch_size=256, verbose=0, return_dict=True)["loss"])


def measure(task: str, run: Run) -> dict:
    """The symptoms of a learning rate: the first epoch's jump, dead units, collapsed predictions, frozen loss."""
    loss = run.history["loss"]
    predictions = np.asarray(run.final_predictions, dtype=np.float64)
    return {
        "seed": run.seed,
        "initial_loss": initial_loss(task, seed=run.seed),
        "first_epoch_loss": float(loss[0]),
        "last_loss": float(loss[-1]),
        "loss_change_last_epoch": float(abs(loss[-1] - loss[-2])) if len(loss) > 1 else float("nan"),
        "dead_relu_fraction": dead_fraction(task, run),
        "prediction_std": float(np.nanstd(predictions)),
        "distinct_predictions": distinct_values(predictions),
    }


def sweep(task: str = "classifier", rates=SWEEP, seed: int = 0) -> dict[float, dict[str, list[float]]]:
    """The loss history of the head of ``task`` trained at each learning rate of ``rates`` (computed once per
    machine, ``results.kept``)."""
    heads = CompiledHeads()  # every rate trains on one traced head
    return results.kept("sweep", lambda: {rate: train(adam(rate), seed, task=task, kept=(heads, task)).history
                                          for rate in rates}, task, tuple(rates), seed)


def range_test(task: str, seed: int = 0) -> RangeTest:
    """The learning-rate range test on the fixed head of ``task`` (its training set, batch 32), computed once per
    machine (``results.kept``)."""
    def run() -> RangeTest:
        t = TASKS[task]
        (x, y), _ = t.features()
        with quiet():
            return lr_range_test(t.build(adam()), (x, y), seed=seed, ceiling=SUGGESTION_CEILING)

    return results.kept("range-test", run, task, seed)


def nan_run(task: str = "regressor", rate: float = NAN_LEARNING_RATE, seed: int = 0) -> Run:
    """A learning rate so large that the loss becomes NaN; Keras's ``TerminateOnNaN`` stops the training."""
    return train(adam(rate), seed, task=task, callbacks=[keras.callbacks.TerminateOnNaN()])


def draw_with_dead_units(task: str) -> Callable[..., None]:
    """Draws a run of ``task``'s head: its loss curves and the share of its hidden units dead on validation data."""
    def draw(run: Run, fig, title: str) -> None:
        draw_run(run, fig, dead_fraction(task, run), title)

    return draw


def live(task: str = "classifier") -> LiveView:
    """A log-scale learning-rate slider (1e-5 to 1); each move shows the head trained at that rate (once, then
    kept) and its symptoms."""
    draw = draw_with_dead_units(task)
    heads = CompiledHeads()  # one traced head for every rate: a rate's first run starts training at once

    def retrain(rate: float, callbacks=(), on_epoch=None) -> Run:
        return detached(train(adam(rate), task=task, callbacks=callbacks, on_epoch=on_epoch, kept=(heads, task)))

    return log_slider(-5, 0, QUESTION_LEARNING_RATE, retrain,
                           lambda run, fig, rate: draw(run, fig, f"Adam({rate:.2g})"), description="learning rate")


def assert_task_converged(task: str, run: Run) -> None:
    """The head of ``task`` converged as its lesson demands, and most of its hidden units are alive."""
    TASKS[task].assert_converged(run)
    dead = dead_fraction(task, run)
    assert dead <= MAX_DEAD_FRACTION, (
        f"{dead:.0%} of the hidden relu units output 0 for every validation example (at most "
        f"{MAX_DEAD_FRACTION:.0%} may): the learning rate is too large and killed them")


def assert_converged(runs: dict[str, Run]) -> None:
    """The graded assertions on what ``check_converges`` trains: each task's head (``assert_task_converged``)."""
    for task, run in runs.items():
        assert_task_converged(task, run)


def graded_metric(runs: dict[str, Run]) -> float:
    """The largest share of dead hidden relu units over the tasks' heads."""
    return max(dead_fraction(task, run) for task, run in runs.items())


def dead_fraction(task: str, run: Run) -> float:
    """Share of the hidden relu units of a trained head of ``task`` that are dead on its validation features."""
    _, (x_val, _) = TASKS[task].features()
    return dead_relu_fraction(run.model, x_val)


def check_converges(make_optimizer: Callable[[], keras.optimizers.Optimizer], seed: int = 0) -> dict[str, Run]:
    """The graded check: with the student's optimizer, both fixed heads converge with most units alive."""
    runs = {}
    for task, t in TASKS.items():
        run = grading.train_student(t.train, t.build(make_optimizer), seed, epochs=EPOCHS)
        (x, y), _ = t.features()
        try:
            grading.assert_converged_or_diagnose(functools.partial(assert_task_converged, task), run, x, y)
        except AssertionError as error:
            raise AssertionError(f"the {t.name} did not converge with your optimizer: {error}") from None
        runs[task] = run
    return runs


def prepare() -> None:
    """What the check reads from disk: the features of both tasks' images."""
    for task in TASKS.values():
        task.features()


def examine(task: str, optimizer: OptimizerFactory, seed: int = 0) -> tuple[Run, Report]:
    """The head of ``task`` trained with ``optimizer`` and the doctor watching: the run and what the doctor says."""
    t = TASKS[task]
    train_set, val_set = t.features()
    return examine_training(lambda callbacks: train(optimizer, seed, task=task, callbacks=callbacks), train_set, val_set)


def doctor_cases() -> dict[str, tuple]:
    """name -> (seed -> the doctor's report on that program, the kinds it must name; none for a fix).

    At 0.1 the units die, except the classifier's without TensorFlow's logits shortcut (``loss_reads_logits``):
    its sigmoid saturates in the first epoch and the clipped loss gives no more gradient (47% to 70% dead on JAX)."""
    def at_0_1(task: str) -> set[str]:
        return {"learning-rate", "dead-relu"} if task == "regressor" or loss_reads_logits() else {"learning-rate"}

    return {f"{task}, Adam({rate:g})": (lambda seed, task=task, rate=rate: examine(task, adam(rate), seed)[1],
                                        at_0_1(task) if rate == QUESTION_LEARNING_RATE else set())
            for task in TASKS for rate in (QUESTION_LEARNING_RATE, 1e-3)}


def summary(runs: dict[str, Run]) -> str:
    """What a passing check reports."""
    return "; ".join(f"{task}: {TASKS[task].metric_name} {TASKS[task].metric(run):.3f}, "
                     f"{dead_fraction(task, run):.0%} of hidden units dead" for task, run in runs.items())


def calibration_answers() -> dict[str, tuple[OptimizerFactory, bool]]:
    """name -> (optimizer, should pass): the question's rates, the range test's suggestions, a tiny rate."""
    decay, cosine = keras.optimizers.schedules.ExponentialDecay, keras.optimizers.schedules.CosineDecay
    suggestions = {task: range_test(task).suggestion for task in TASKS}
    return {
        "Adam(0.1) (question 000's and 002's rate)": (adam(QUESTION_LEARNING_RATE), False),
        "Adam(ExponentialDecay from 0.1) (question 002)": (adam(decay(0.1, decay_steps=100000, decay_rate=0.95)), False),
        "Adam(1e-7)": (adam(1e-7), False),
        **{f"Adam({rate:.2g}), the range test's suggestion for the {task}": (adam(rate), True)
           for task, rate in suggestions.items()},
        "Adam(1e-3)": (adam(1e-3), True),
        "Adam(ExponentialDecay from 1e-3)": (adam(decay(1e-3, decay_steps=1000, decay_rate=0.9)), True),
        "Adam(CosineDecay from 1e-3 over 320 steps)": (adam(cosine(1e-3, decay_steps=320)), True),
        "AdamW(1e-3)": (lambda: keras.optimizers.AdamW(1e-3), True),
        "RMSprop(1e-3)": (lambda: keras.optimizers.RMSprop(1e-3), True),
        "SGD(0.01, momentum=0.9)": (lambda: keras.optimizers.SGD(0.01, momentum=0.9), True),
    }


def calibrate(seeds=range(20), answers: list[str] | None = None) -> list[calibration.Calibration]:
    """Each optimizer (of ``answers``, names of ``calibration_answers()``; all by default) through each head's
    graded check at each seed of ``seeds``: a row per optimizer and head."""
    optimizers = {name: found for name, found in calibration_answers().items() if answers is None or name in answers}
    rows = []
    for task, t in TASKS.items():
        heads = {f"{name}, {task}": functools.partial(t.train, t.build(as_data_and_back(ANSWER, optimizer)),
                                                     epochs=EPOCHS)
                 for name, (optimizer, _) in optimizers.items()}
        expected = {f"{name}, {task}": ok for name, (_, ok) in optimizers.items()}
        rows += calibration.calibrate(heads, expected, functools.partial(assert_task_converged, task),
                                      functools.partial(dead_fraction, task), seeds, also=t.metric)
    return rows


def demo() -> Demo:
    """Both heads at 0.1, the range test, and both heads at its suggestions, measured for ``make demo``."""
    broken = reproduce()
    measured = {task: measure(task, run) for task, run in broken.items()}
    tests = {task: range_test(task) for task in TASKS}
    fixed = {task: train(adam(test.suggestion), task=task) for task, test in tests.items()}
    c, r = measured["classifier"], measured["regressor"]
    collapsed = all(m["first_epoch_loss"] > 10 * m["initial_loss"] and m["dead_relu_fraction"] > 0.5
                    and m["distinct_predictions"] == 1 for m in measured.values())
    checks = [converges(functools.partial(assert_task_converged, task), run) for task, run in fixed.items()]
    failed = [reason for ok, reason in checks if not ok]
    return demo_result(
        symptom=(f"Adam 0.1 (seeds {c['seed']} and {r['seed']}, the first of {COLLAPSE_SEEDS} to collapse): loss {c['initial_loss']:.2f} -> {c['first_epoch_loss']:.0f} in epoch 1 (regressor "
                 f"{r['initial_loss']:.2f} -> {r['first_epoch_loss']:.0f}); dead hidden relu units "
                 f"{c['dead_relu_fraction']:.0%} and {r['dead_relu_fraction']:.0%}; "
                 f"{c['distinct_predictions']} and {r['distinct_predictions']} distinct predictions (up to 1e-6); classifier loss "
                 f"frozen at {c['last_loss']:.3f} " + (f"(ln 2 = {math.log(2):.3f})" if loss_reads_logits() else
                                                          "(a saturated sigmoid's clipped loss, no gradient)")),
        fix=(f"Adam at the range test's suggestion: {tests['classifier'].suggestion:.1e} (classifier), "
             f"{tests['regressor'].suggestion:.1e} (regressor)"),
        metric=(f"val accuracy {TASKS['classifier'].metric(fixed['classifier']):.2f}, "
                f"val Huber {TASKS['regressor'].metric(fixed['regressor']):.3f}"),
        reproduced=collapsed,
        not_reproduced=str({task: {k: round(v, 3) for k, v in m.items()} for task, m in measured.items()}),
        converged=(not failed, "; ".join(failed)),
        figures={"curves": side_by_side(draw_with_dead_units("classifier"), broken["classifier"],
                                               fixed["classifier"], ("classifier, Adam(0.1)", "classifier, suggested")),
                 "range-test": range_test_figure(tests)})
