"""Lesson 05, the model that trains but predicts one class: the backbone's preprocessing in the data pipeline.

A transfer-learning model is trained on images that the data pipeline preprocesses (``ImageDataGenerator(
preprocessing_function=preprocess_input)``, ``rescale=1./255``, or ``preprocess_input`` in a ``map``); Keras prints a
good validation accuracy, measured on images preprocessed the same way.  Then the model is deployed: called on an
image as it is loaded from disk, pixels 0..255, which the backbone never saw in training, and it gives the same
class to every image.  The fix puts the preprocessing inside the model, so that training and deployment feed the
backbone alike.
"""
from __future__ import annotations

import weakref

import numpy as np

from ... import grading
from ...console import quiet
from ...doctor import Report, diagnose
from ...lesson import Demo, Lesson, converges, demo as demo_result
from ...live import LiveView, toggle
from ...training import CompiledHeads
from .answer import PreprocessedModelAnswer
from .deployed import DeployedRun, EPOCHS, BATCH_SIZE, TRAIN_IMAGES, accuracy, majority_share, raw_images, train_deployed
from .figures import draw_run, why_figure
from .programs import BOTH, FIX, NOWHERE, PLACES, QUESTION, calibration_answers, program, unit_range  # noqa: F401

Lesson.adopt(__name__)  # this module is a Lesson (tlclinic.lesson): the parts below, the base's defaults for the rest

NAME = "05-preprocessing-outside-the-model"
TITLE = "preprocessing outside the model"
QUESTIONS = ("https://github.com/keras-team/keras/issues/14303", "https://github.com/keras-team/keras/issues/12350",
             "https://github.com/fchollet/deep-learning-models/issues/20")
DATA = ("shapes",)
FAILURE = ("`preprocess_input` in the data pipeline: Keras prints a good validation accuracy, then `predict` on images "
           "as loaded gives one class for every image")
CURE = "the preprocessing as the model's first layer, the pipeline feeding raw pixels"
ANSWER = PreprocessedModelAnswer("build_model")  # build_model(backbone) -> (the pipeline's preprocessing, the model)
MIN_ACCURACY = 0.75  # over 20 seeds (both kernel families) the valid fixes reach 0.79 or more, the broken ones 0.70 at most
MAX_MAJORITY_SHARE = 0.8  # a deployed model giving one class to more than this share of the images says so first
CHECK = (f"after {EPOCHS} epochs at batch {BATCH_SIZE} on {TRAIN_IMAGES} images as your pipeline feeds them: validation "
         f"accuracy at least {MIN_ACCURACY} on the test images both as your pipeline feeds them and as they are loaded "
         f"(pixels 0..255, the way a deployed model is called), and no class given to more than "
         f"{MAX_MAJORITY_SHARE:.0%} of them")
CALIBRATION_METRIC = "deployed accuracy"
CALIBRATION_ALSO = "val accuracy (pipeline)"
BROWSER_CHOICES = (FIX, BOTH, NOWHERE, QUESTION)


def train(build_model, seed: int = 0, *, callbacks=(), kept=None, on_epoch=None, epochs: int = EPOCHS) -> DeployedRun:
    """``build_model``'s model trained on the images as its pipeline preprocesses them, then called on the raw test
    images after each epoch (``deployed.train_deployed``; ``kept``: its model kept compiled, ``CompiledHeads.start``)."""
    with quiet():
        return train_deployed(build_model, seed, callbacks=callbacks, on_epoch=on_epoch, epochs=epochs, kept=kept)


# reproduce()'s runs by the ``train`` that trained them and their seed, held weakly: the live view starts from the one
# at seed 0, the run of its first choice, instead of training it again (a run is deterministic for its seed).
_REPRODUCED = weakref.WeakValueDictionary()


def reproduce(seed: int = 0) -> DeployedRun:
    """The question's program: ``preprocess_input`` (here ``Rescaling(1/127.5, offset=-1)``) in the data pipeline."""
    run = train(PLACES[QUESTION], seed)
    _REPRODUCED[(train, seed)] = run
    return run


def symptoms(run: DeployedRun) -> dict:
    """What the lesson reads off a run: accuracies as Keras prints them and as deployed, the deployed classes."""
    return {"val_accuracy_printed": run.history["val_accuracy"][-1],
            "pipeline_accuracy": accuracy(run.pipeline_predictions, run.val_targets),
            "deployed_accuracy": accuracy(run.final_predictions, run.val_targets),
            "majority_share": majority_share(run.final_predictions),
            "train_range": run.train_range, "deployed_range": run.deployed_range}


def live() -> LiveView:
    """Toggle buttons over where the preprocessing is; each flip retrains and redraws epoch by epoch.  One model is
    kept compiled per place, traced before the first click, so that a first flip starts training at once.  The
    question's place shows ``reproduce()``'s run when this kernel has it still."""
    models = CompiledHeads()

    def retrain(place: str, callbacks=(), on_epoch=None) -> DeployedRun:
        return train(PLACES[place], callbacks=callbacks, on_epoch=on_epoch, kept=(models, place))

    return toggle(list(PLACES), QUESTION, retrain, lambda run, fig, place: draw_run(run, fig, f"preprocessing {place}"),
                  description="preprocessing", warm=True, trained=_REPRODUCED.get((train, 0)))


def assert_converged(run: DeployedRun) -> None:
    outputs = run.final_predictions
    assert outputs.ndim == 2 and outputs.shape[1] in (1, 2), (
        f"the model should output 1 unit (probability of class 1) or 2 units (one per class), not {outputs.shape[1:]}")
    grading.assert_loss_finite_and_falling(run)
    s = symptoms(run)
    ranges = (f"in training the backbone received values in [{s['train_range'][0]:.3g}, {s['train_range'][1]:.3g}], "
              f"deployed in [{s['deployed_range'][0]:.3g}, {s['deployed_range'][1]:.3g}]")
    assert s["pipeline_accuracy"] >= MIN_ACCURACY, (
        f"the model did not learn from what your pipeline feeds it: validation accuracy {s['pipeline_accuracy']:.2f} "
        f"(at least {MIN_ACCURACY} needed); {ranges}. The backbone expects pixels in [-1, 1]")
    assert s["majority_share"] <= MAX_MAJORITY_SHARE, (
        f"called on the images as they are loaded (pixels 0..255), the model gives one class to "
        f"{s['majority_share']:.0%} of them (accuracy {s['deployed_accuracy']:.2f}): {ranges}. Preprocess inside the "
        "model, as its first layer, and let the pipeline feed the images as they are loaded")
    assert s["deployed_accuracy"] >= MIN_ACCURACY, (
        f"called on the images as they are loaded, the model's accuracy is {s['deployed_accuracy']:.2f} (at least "
        f"{MIN_ACCURACY} needed): {ranges}")


def check_converges(build_model, seed: int = 0) -> DeployedRun:
    """The graded check: trained as its pipeline feeds it, the model is right on raw images too."""
    run = grading.train_student(train, build_model, seed)
    assert_converged(run)
    return run


def graded_metric(run: DeployedRun) -> float:
    """What the check thresholds last: the accuracy of the deployed model, called on raw images."""
    return accuracy(run.final_predictions, run.val_targets)


def also_metric(run: DeployedRun) -> float:
    return accuracy(run.pipeline_predictions, run.val_targets)


def summary(run: DeployedRun) -> str:
    s = symptoms(run)
    return (f"validation accuracy {s['pipeline_accuracy']:.2f} as your pipeline feeds the images, "
            f"{s['deployed_accuracy']:.2f} on the images as loaded (at least {MIN_ACCURACY} needed); the most "
            f"predicted class takes {s['majority_share']:.0%} of them")


def examine(run: DeployedRun) -> Report:
    """What the doctor reads off a trained program's model, given the images it is called on when deployed."""
    x, y = raw_images("test")
    return diagnose(run.model, x, y)


def doctor_cases() -> dict[str, tuple]:
    """name -> (seed -> the doctor's report on the deployed model, the kinds it must name; none for the fix)."""
    return {f"preprocessing {place}": (lambda seed, place=place: examine(train(PLACES[place], seed)),
                                       {"unscaled-inputs"} if place == QUESTION else set())
            for place in (QUESTION, FIX)}


def demo() -> Demo:
    """The question's program and the fix, measured for ``make demo``."""
    broken, fixed = reproduce(), train(PLACES[FIX])
    s = symptoms(broken)
    return demo_result(
        symptom=(f"Keras prints val accuracy {s['val_accuracy_printed']:.2f}; called on the images as loaded, the "
                 f"model gives one class to {s['majority_share']:.0%} of them (accuracy {s['deployed_accuracy']:.2f}); "
                 f"the backbone got [{s['train_range'][0]:.3g}, {s['train_range'][1]:.3g}] in training, "
                 f"[{s['deployed_range'][0]:.3g}, {s['deployed_range'][1]:.3g}] deployed"),
        fix="Rescaling(1/127.5, offset=-1) as the model's first layer",
        metric=f"deployed accuracy {graded_metric(fixed):.2f} (graded: >= {MIN_ACCURACY})",
        reproduced=s["pipeline_accuracy"] >= MIN_ACCURACY and s["majority_share"] >= 0.9,
        not_reproduced=str({k: v for k, v in s.items()}),
        converged=converges(assert_converged, fixed),
        figures={"curves": why_figure(broken, fixed)})
