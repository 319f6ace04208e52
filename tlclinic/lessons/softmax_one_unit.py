"""Lesson 01, softmax over one unit (seed 000): data, training, the live toggle and the graded check."""
from __future__ import annotations

import functools

import numpy as np
from matplotlib.figure import Figure

from .. import grading, live, report
from ..features import cached_features
from ..heads import CLASSIFIER_HALF_FIXES, CLASSIFIER_OUTPUTS, HeadBuilder, seed000_classifier
from ..plots import draw_classifier_run, draw_prediction_histogram, overlay
from ..symptoms import accuracy, classifier_symptoms, positive_probability
from ..training import CompiledHeads, Run, train_head

BROKEN = "softmax over 1 unit (seed 000)"
FIX = "sigmoid + binary cross-entropy"
SEED_BATCH_SIZE = 5  # as in the question
EPOCHS, BATCH_SIZE = 5, 32  # what the live toggle and the grader train with
MIN_ACCURACY = 0.8  # over 20 seeds the fixed heads reach 0.90 to 0.96, the broken ones 0.50 (README)
CALIBRATION_METRIC = "val accuracy"  # what calibrate() reports


def shapes_features() -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """(train, test) cached features of ``shapes`` under the pretrained mini Inception backbone."""
    return cached_features("shapes", "train"), cached_features("shapes", "test")


def train(build: HeadBuilder, seed: int = 0, epochs: int = EPOCHS, batch_size: int = BATCH_SIZE,
          callbacks=(), kept=None) -> Run:
    """Train a classification head on the cached ``shapes`` features; validate on the test split."""
    train_set, test_set = shapes_features()
    return train_head(build, train_set, test_set, epochs=epochs, batch_size=batch_size, seed=seed,
                      callbacks=callbacks, kept=kept)


def reproduce(seed: int = 0, epochs: int = EPOCHS) -> Run:
    """Seed 000's head as asked: Dense(1, softmax), binary cross-entropy, Adam, batch 5."""
    with grading.quiet():
        return train(seed000_classifier(BROKEN), seed, epochs, SEED_BATCH_SIZE)


def live_toggle() -> live.LiveView:
    """Toggle buttons over the three output layers; each flip retrains and redraws."""

    def draw(run: Run, fig: Figure, output: str) -> None:
        draw_classifier_run(run, fig, title=output)

    heads = CompiledHeads()

    def retrain(output: str) -> Run:
        with grading.quiet():
            return train(seed000_classifier(output), kept=(heads, output))

    return live.toggle(list(CLASSIFIER_OUTPUTS), BROKEN, retrain, draw, description="output")


def check_converges(build_head: HeadBuilder, seed: int = 0) -> Run:
    """The graded check: the student's head trains to at least ``MIN_ACCURACY`` with informative outputs."""
    run = grading.train_student(train, grading.with_output_units(build_head, (1, 2)), seed)
    assert_converged(run)
    return run


def assert_converged(run: Run) -> None:
    outputs = run.final_predictions
    assert outputs.ndim == 2 and outputs.shape[1] in (1, 2), (
        f"the head should output 1 unit (probability of class 1) or 2 units (one per class), not {outputs.shape[1:]}")
    grading.assert_loss_finite_and_falling(run)
    probs = positive_probability(outputs)
    assert np.all(np.isfinite(probs)), "some predictions are NaN or infinite"
    assert probs.std() > 0.05, (
        f"the predictions hardly vary (all near {np.nanmean(probs):.3f}): the output carries no information")
    acc = accuracy(outputs, run.val_targets)
    assert acc >= MIN_ACCURACY, f"validation accuracy {acc:.3f} is below {MIN_ACCURACY} after {EPOCHS} epochs"


def graded_metric(run: Run) -> float:
    """What the graded check thresholds: validation accuracy."""
    return accuracy(run.final_predictions, run.val_targets)


def calibrate(seeds=range(20)) -> list[grading.Calibration]:
    """Every fixed, broken and half-fixed head through the graded check, at each seed of ``seeds``."""
    names = [*CLASSIFIER_OUTPUTS, *CLASSIFIER_HALF_FIXES]
    heads = {name: functools.partial(train, seed000_classifier(name)) for name in names}
    expected = {name: name in CLASSIFIER_OUTPUTS and name != BROKEN for name in names}
    return grading.calibrate(heads, expected, assert_converged, graded_metric, seeds)


def why_figure(broken: Run, fixed: Run) -> Figure:
    """The histograms of predictions of the broken and the fixed head, on one axes."""
    return overlay(draw_prediction_histogram, {"Dense(1, softmax): all 1.0": broken, "Dense(1, sigmoid)": fixed})


def demo() -> report.Demo:
    """The question's head and the sigmoid fix, measured for ``make demo``."""
    broken = reproduce()
    with grading.quiet():
        fixed = train(seed000_classifier(FIX))
    s = classifier_symptoms(broken)
    on_prior = all(abs(a - s["positive_share"]) <= 0.02 for a in s["val_accuracy"])
    return report.demo(
        symptom=(f"every prediction is {s['prediction_max']:.1f} ({s['distinct_predictions']} distinct value); "
                 f"val accuracy {s['val_accuracy'][-1]:.2f} = share of class 1 {s['positive_share']:.2f}; "
                 f"loss still falls {s['first_loss']:.3f} -> {s['last_loss']:.3f} (logits shortcut)"),
        fix="Dense(1, sigmoid) + binary cross-entropy",
        metric=f"val accuracy {graded_metric(fixed):.2f} (graded: >= {MIN_ACCURACY})",
        reproduced=s["all_predictions_one"] and on_prior,
        not_reproduced=f"predictions from {s['prediction_min']:.3f} to {s['prediction_max']:.3f}, "
                       f"accuracy {s['val_accuracy']}",
        converged=report.converges(assert_converged, fixed),
        figures={"curves": report.side_by_side(draw_classifier_run, broken, fixed, (BROKEN, FIX), height=3.4),
                 "predictions": why_figure(broken, fixed)})
