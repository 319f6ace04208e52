"""Lesson 01, softmax over one unit (question 000): data, training, the live toggle and the graded check."""
from __future__ import annotations

import numpy as np

from ... import grading
from ...backbone import MINI_INCEPTION_FEATURES
from ...console import quiet
from ...crossing import HeadAnswer
from ...heads import HeadBuilder
from ...live import LiveView, toggle
from ...plots import side_by_side
from ...symptoms import FLOAT32_TOLERANCE, positive_probability
from ...tasks import (CLASSIFIER_METRIC, assert_classifier_converged, classifier_metric, labels_for, shapes_features,
                      train_classifier)
from ...training import CompiledHeads, Run
from ...doctor import Report
from ...lesson import Demo, Lesson, converges, demo as demo_result, examine_training, output_doctor_cases
from .figures import draw_run, why_figure
from .heads import BROKEN, FIX, OUTPUTS, calibration_answers, classifier  # noqa: F401 (calibration_answers: a part)
from .symptoms import classifier_symptoms, flat_loss, loss_behaviour, loss_reads_logits  # noqa: F401 (notebook, tests)

Lesson.adopt(__name__)  # this module is a Lesson (tlclinic.lesson): the parts below, the base's defaults for the rest

NAME = "01-softmax-one-unit"
TITLE = "softmax over one unit"
QUESTIONS = ("000",)
DATA = ("shapes",)
FAILURE = "`Dense(1, softmax)` on two classes: every prediction is 1.0"
CURE = "`Dense(1, sigmoid)`, or `Dense(2, softmax)` with a categorical loss"
QUESTION_BATCH_SIZE = 5  # question 000 trained at batch 5
EPOCHS, BATCH_SIZE = 5, 32  # what the live toggle and the grader train with
MIN_ACCURACY = 0.8  # over 20 seeds the valid fixes reach 0.89 or more, the broken ones 0.50 (calibration/)
# A head with BatchNormalization is validated with its statistics measured over the training features: after the
# 160 steps of 5 epochs, moving averages at momentum 0.99 still hold a fifth of their starting values (mean 0,
# variance 1), and a first hidden layer whose activations have a variance of 0.004 to 0.008 is divided at validation
# by a standard deviation 5 to 7 times too large (0.55 to 0.91 over 20 seeds; measured, 0.93 to 0.98).
CHECK = (f"validation accuracy at least {MIN_ACCURACY} after {EPOCHS} epochs at batch {BATCH_SIZE} (BatchNorm "
         "statistics measured over the training features), predictions that vary, and a falling training loss")
CALIBRATION_METRIC = CLASSIFIER_METRIC  # what calibrate() reports: "val accuracy"
ANSWER = HeadAnswer("build_head", MINI_INCEPTION_FEATURES)  # the student writes build_head(input_dim) -> compiled model
# What `make bench` clicks in the browser, in order: each fix, then back to the question's output.
BROWSER_CHOICES = (*(output for output in OUTPUTS if output != BROKEN), BROKEN)


def train(build: HeadBuilder, seed: int = 0, *, callbacks=(), kept=None, on_epoch=None, epochs: int = EPOCHS,
          batch_size: int = BATCH_SIZE) -> Run:
    """Train a classification head on the cached ``shapes`` features (``shapes_features``), validated on the test
    split, for ``epochs`` at ``batch_size`` (``tasks.train_classifier``: labels as the head's loss wants them,
    predictions as probabilities, BatchNorm statistics measured over the training features)."""
    return train_classifier(build, seed, epochs=epochs, batch_size=batch_size, callbacks=callbacks, kept=kept,
                            on_epoch=on_epoch)


def reproduce(seed: int = 0, epochs: int = EPOCHS) -> Run:
    """Question 000's head as asked: Dense(1, softmax), binary cross-entropy, Adam, batch 5."""
    with quiet():
        return train(classifier(BROKEN), seed, epochs=epochs, batch_size=QUESTION_BATCH_SIZE)


def live() -> LiveView:
    """Toggle buttons over the three output layers; each flip shows that head's run (trained once, then kept).
    Each head's training is traced before the first click (one compiled head per output layer)."""
    heads = CompiledHeads()

    def retrain(output: str, callbacks=(), on_epoch=None) -> Run:
        with quiet():
            return train(classifier(output), callbacks=callbacks, on_epoch=on_epoch, kept=(heads, output))

    return toggle(list(OUTPUTS), BROKEN, retrain, lambda run, fig, output: draw_run(run, fig, title=output),
                  description="output layer", warm=True)


def check_converges(build_head: HeadBuilder, seed: int = 0) -> Run:
    """The graded check: the student's head trains to at least ``MIN_ACCURACY`` with informative outputs."""
    run = grading.train_student(train, grading.with_output_units(build_head, (1, 2)), seed)
    (x, y), _ = shapes_features()
    grading.assert_converged_or_diagnose(assert_converged, run, x, labels_for(run.model, y))
    return run


def prepare() -> None:
    """What the check reads from disk: the features of the shapes images."""
    shapes_features()


def examine(build: HeadBuilder, seed: int = 0) -> tuple[Run, Report]:
    """``build``'s head trained with the doctor watching: the run and what the doctor says about it."""
    train_set, test_set = shapes_features()
    with quiet():
        return examine_training(lambda callbacks: train(build, seed, callbacks=callbacks), train_set, test_set,
                                labels_for)


def doctor_cases() -> dict[str, tuple]:
    """name -> (seed -> the doctor's report on that program, the kinds it must name; none for a fix)."""
    return output_doctor_cases(OUTPUTS, BROKEN, "softmax-one-unit", lambda output, seed: examine(classifier(output), seed))


def summary(run: Run) -> str:
    """What a passing check reports."""
    return (f"validation accuracy {graded_metric(run):.3f} (at least {MIN_ACCURACY} needed) after "
            f"{len(run.history['loss'])} epochs; "
            f"predictions from {np.nanmin(positive_probability(run.final_predictions)):.2f} to "
            f"{np.nanmax(positive_probability(run.final_predictions)):.2f}")


def assert_converged(run: Run, min_accuracy: float = MIN_ACCURACY) -> None:
    """The graded assertions: the classifier's (``tasks.assert_classifier_converged``) at ``MIN_ACCURACY``."""
    assert_classifier_converged(run, min_accuracy)


graded_metric = classifier_metric  # what the graded check thresholds: validation accuracy


def demo() -> Demo:
    """The question's head and the sigmoid fix, measured for ``make demo``."""
    broken = reproduce()
    with quiet():
        fixed = train(classifier(FIX))
    s = classifier_symptoms(broken)
    on_prior = all(abs(a - s["positive_share"]) <= 0.02 for a in s["val_accuracy"])
    return demo_result(
        symptom=(f"every prediction is 1.0 within {FLOAT32_TOLERANCE:g} ({s['distinct_predictions']} distinct value "
                 f"up to {FLOAT32_TOLERANCE:g}); "
                 f"val accuracy {s['val_accuracy'][-1]:.2f} = share of class 1 {s['positive_share']:.2f}; "
                 + loss_behaviour(s)),
        fix="Dense(1, sigmoid) + binary cross-entropy",
        metric=f"val accuracy {graded_metric(fixed):.2f} (graded: >= {MIN_ACCURACY})",
        reproduced=s["all_predictions_one"] and on_prior,
        not_reproduced=f"predictions from {s['prediction_min']:.9g} to {s['prediction_max']:.9g} (not all within "
                       f"{FLOAT32_TOLERANCE:g} of 1.0), accuracy {s['val_accuracy']}",
        converged=converges(assert_converged, fixed),
        figures={"curves": side_by_side(draw_run, broken, fixed, (BROKEN, FIX), height=3.4),
                 "predictions": why_figure(broken, fixed)})

