"""Lesson 02, relu on a regression output (question 002): data, training, the live toggle and the graded check."""
from __future__ import annotations

import functools
import weakref

from ... import calibration, grading, results
from ...backbone import MINI_INCEPTION_FEATURES
from ...console import quiet
from ...crossing import HeadAnswer, as_data_and_back
from ...heads import HeadBuilder, adam
from ...live import LiveView, toggle
from ...plots import side_by_side
from ...symptoms import output_died, regression_symptoms
from ...tasks import (MAX_ERROR_RATIO, MAX_VAL_HUBER, MIN_NEGATIVE_SHARE, REGRESSOR_METRIC, assert_regressor_converged,
                      regressor_metric, road_features, train_regressor)
from ...training import CompiledHeads, Run, train_seeds
from ...doctor import Report
from ...lesson import Demo, Lesson, converges, demo as demo_result, examine_training, output_doctor_cases
from .figures import draw_run, why_figure
from .heads import BROKEN, FIX, OUTPUTS, SHIFTED, calibration_answers, regressor

Lesson.adopt(__name__)  # this module is a Lesson (tlclinic.lesson): the parts below, the base's defaults for the rest

NAME = "02-relu-regression-output"
TITLE = "relu on a regression output"
QUESTIONS = ("002",)
DATA = ("road",)
FAILURE = "`Dense(1, relu)` for a steering angle in [-1, 1]: no negative prediction, the loss stops moving"
CURE = "a linear output"
QUESTION_LEARNING_RATE = 0.1  # question 002's Adam started at 0.1; this lesson trains at a sane 1e-3 (lesson 03's subject)
EPOCHS, BATCH_SIZE = 5, 32  # batch 32 as in the question; what the live toggle and the grader train with
# The graded check is the regressor's (tlclinic.tasks: MAX_VAL_HUBER, MIN_NEGATIVE_SHARE, MAX_ERROR_RATIO).  Over 20
# seeds (calibration/) this lesson's valid fixes reach a validation Huber loss of at most 0.033 and the relu head
# 0.083 or more; lesson 03 holds RMSprop(1e-3), its slowest valid optimizer, to the same limit.
CHECK = (f"validation Huber loss at most {MAX_VAL_HUBER} after {EPOCHS} epochs at batch {BATCH_SIZE}, at least "
         f"{MIN_NEGATIVE_SHARE:.0%} of the predictions negative, and mean errors on negative and positive angles "
         f"within a factor of {MAX_ERROR_RATIO:g}")
CALIBRATION_METRIC = REGRESSOR_METRIC  # what calibrate() reports: "val Huber loss"
ANSWER = HeadAnswer("build_head", MINI_INCEPTION_FEATURES)  # the student writes build_head(input_dim) -> compiled model
BROWSER_CHOICES = (FIX, "tanh", BROKEN)  # what `make bench` clicks in the live control, in order


def train(build: HeadBuilder, seed: int = 0, *, callbacks=(), kept=None, on_epoch=None, epochs: int = EPOCHS,
          batch_size: int = BATCH_SIZE, target_shift: float = 0.0) -> Run:
    """Train a regression head on the cached ``road`` features (``road_features``), validated on ``val``, for
    ``epochs`` at ``batch_size`` (``tasks.train_regressor``: ``target_shift`` trains on ``angle + target_shift``, a
    tempting wrong fix that keeps the relu, and the run is judged on the true angles)."""
    return train_regressor(build, seed, epochs=epochs, batch_size=batch_size, callbacks=callbacks, kept=kept,
                           on_epoch=on_epoch, target_shift=target_shift)


# reproduce()'s runs at the live view's length and rate (``EPOCHS``, Adam's default), by the ``train`` that trained them
# and their seed, held weakly: the view starts from the one at seed 0 instead of training its first choice again.
_REPRODUCED = weakref.WeakValueDictionary()


def reproduce(seed: int = 0, epochs: int = EPOCHS, learning_rate: float = 1e-3) -> Run:
    """Question 002's head as asked, Dense(1, relu) and Huber(0.5), at a sane learning rate."""
    with quiet():
        run = train(regressor(BROKEN, adam(learning_rate)), seed, epochs=epochs)
    if (epochs, learning_rate) == (EPOCHS, 1e-3):
        _REPRODUCED[(train, seed)] = run
    return run


def dead_output_seeds(learning_rate: float, seeds=range(20), epochs: int = 2) -> list[int]:
    """The seeds at which question 002's relu head, alone at ``learning_rate``, ends with a dead output unit.

    Each seed's run is ``reproduce(seed, epochs, learning_rate)``'s, 2 epochs by default, trained by
    ``training.train_seeds``; a dead output is ``symptoms.output_died`` (every prediction 0 after both epochs).
    Computed once per machine (``results.kept``).
    """
    seeds = list(seeds)

    def count() -> list[int]:
        (x_train, y_train), (x_val, _) = road_features()
        with quiet():
            runs = train_seeds(regressor(BROKEN, adam(learning_rate)), seeds, (x_train, y_train), x_val,
                               epochs, BATCH_SIZE)
        return [seed for seed, predictions in zip(seeds, runs) if output_died(predictions)]

    return results.kept("dead-output-seeds", count, learning_rate, seeds, epochs)


def live() -> LiveView:
    """Toggle buttons over the output activations; each flip shows that head's run (trained once, then kept).  The
    question's output shows ``reproduce()``'s run when this kernel has it still."""

    def draw(run: Run, fig, output: str) -> None:
        s = regression_symptoms(run)
        draw_run(run, fig, title=f"{output}: {s['negative_prediction_share']:.0%} of predictions "
                                            f"negative, validation Huber loss {s['val_huber']:.3f}")

    heads = CompiledHeads()  # one compiled head per output activation, traced before the first click

    def retrain(output: str, callbacks=(), on_epoch=None) -> Run:
        with quiet():
            return train(regressor(output), callbacks=callbacks, on_epoch=on_epoch, kept=(heads, output))

    return toggle(list(OUTPUTS), BROKEN, retrain, draw, description="output activation", warm=True,
                  trained=_REPRODUCED.get((train, 0)))


def check_converges(build_head: HeadBuilder, seed: int = 0) -> Run:
    """The graded check: the student's head fits the angles, negative ones as well as positive ones."""
    run = grading.train_student(train, grading.with_output_units(build_head, (1,)), seed)
    (x, y), _ = road_features()
    grading.assert_converged_or_diagnose(assert_converged, run, x, y)
    return run


def prepare() -> None:
    """What the check reads from disk: the features of the road images."""
    road_features()


def examine(build: HeadBuilder, seed: int = 0) -> tuple[Run, Report]:
    """``build``'s head trained with the doctor watching: the run and what the doctor says about it."""
    train_set, val_set = road_features()
    with quiet():
        return examine_training(lambda callbacks: train(build, seed, callbacks=callbacks), train_set, val_set)


def doctor_cases() -> dict[str, tuple]:
    """name -> (seed -> the doctor's report on that program, the kinds it must name; none for a fix)."""
    return output_doctor_cases(OUTPUTS, BROKEN, "output-range", lambda output, seed: examine(regressor(output), seed))


def summary(run: Run) -> str:
    """What a passing check reports."""
    s = regression_symptoms(run)
    return (f"validation Huber loss {s['val_huber']:.4f} (at most {MAX_VAL_HUBER}) after {len(run.history['loss'])} epochs; "
            f"{s['negative_prediction_share']:.0%} of the predictions negative; mean error "
            f"{s['mae_negative_angles']:.3f} on negative angles, {s['mae_positive_angles']:.3f} on positive ones")


assert_converged = assert_regressor_converged  # the graded assertions: the regressor's (tlclinic.tasks)
graded_metric = regressor_metric  # what the graded check thresholds: the validation Huber loss


def calibrate(seeds=range(20)) -> list[calibration.Calibration]:
    """Every answer of ``calibration_answers()``, and the shifted-target trick, through the graded check at each seed, as the
    verifier sees each head (rebuilt from its config)."""
    family = calibration_answers()
    heads = {name: functools.partial(train, as_data_and_back(ANSWER, build)) for name, (build, _) in family.items()}
    heads[SHIFTED] = functools.partial(train, regressor(BROKEN), target_shift=1.0)
    expected = {**{name: ok for name, (_, ok) in family.items()}, SHIFTED: False}
    return calibration.calibrate(heads, expected, assert_converged, graded_metric, seeds)


def demo() -> Demo:
    """The question's head, its dying output over 20 seeds, and the linear fix, measured for ``make demo``."""
    broken = reproduce()
    with quiet():
        fixed = train(regressor(FIX))
    dead = {rate: dead_output_seeds(rate) for rate in (1e-3, QUESTION_LEARNING_RATE)}
    s, f = regression_symptoms(broken), regression_symptoms(fixed)
    return demo_result(
        symptom=(f"{s['negative_prediction_share']:.0%} of predictions < 0 ({s['negative_angle_share']:.0%} of "
                 f"angles are); mean error {s['mae_negative_angles']:.2f} on negative angles vs "
                 f"{s['mae_positive_angles']:.2f} on positive; output dead after 2 epochs (all 0) in "
                 f"{len(dead[1e-3])}/20 seeds at Adam 1e-3, {len(dead[QUESTION_LEARNING_RATE])}/20 at 0.1"),
        fix="Dense(1) linear output",
        metric=(f"val Huber {f['val_huber']:.3f} (graded: <= {MAX_VAL_HUBER}); "
                f"{f['negative_prediction_share']:.0%} of predictions < 0"),
        reproduced=(s["negative_prediction_share"] == 0 and s["every_negative_keeps_its_size"]
                    and len(dead[QUESTION_LEARNING_RATE]) >= 18),
        not_reproduced=(f"{s['negative_prediction_share']:.1%} negative predictions, "
                        f"{len(dead[QUESTION_LEARNING_RATE])}/20 dead outputs at 0.1"),
        converged=converges(assert_converged, fixed),
        figures={"curves": side_by_side(draw_run, broken, fixed, (BROKEN, FIX)),
                 "predicted-vs-true": why_figure(broken, fixed)})
