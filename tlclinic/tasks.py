"""The two heads the questions train, as tasks: the question-000 classifier on the shapes features, the question-002
regressor on the road features: their features, their fixed heads, training, graded assertions and metric.

More than one lesson trains and grades these heads, so they live here.  A lesson brings its own budget
(``epochs``, ``batch_size``) and, for the classifier, the validation accuracy it asks for (``min_accuracy``); the
regressor's check holds every lesson that grades it to the same thresholds.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from . import grading
from .console import quiet
from .features import cached_features
from .heads import HeadBuilder, OptimizerFactory, adam, question000_classifier, question002_regressor
from .symptoms import FLOAT32_TOLERANCE, accuracy, distinct_values, huber, positive_probability, regression_symptoms
from .training import Run, train_head

Features = tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]  # (train, validation), each (x, y)

# ---- the classifier: question 000's head on the shapes features ---------------------------------------------

CLASSIFIER_FIX = "sigmoid + binary cross-entropy"  # question 000's output layer, fixed
CLASSIFIER_FIX_OUTPUT = (1, "sigmoid", "binary_crossentropy")  # its (output units, output activation, loss)
CLASSIFIER_METRIC = "val accuracy"  # what classifier_metric measures, for the calibration tables


def shapes_features() -> Features:
    """(train, test) cached features of ``shapes`` under the pretrained mini Inception backbone."""
    return cached_features("shapes", "train"), cached_features("shapes", "test")


def fixed_classifier(optimizer: OptimizerFactory = adam()) -> HeadBuilder:
    """Question 000's head with its fixed output layer (``CLASSIFIER_FIX``), trained with ``optimizer``."""
    return question000_classifier(*CLASSIFIER_FIX_OUTPUT, optimizer=optimizer, name=CLASSIFIER_FIX)


def loss_of(model) -> tuple[str, bool]:
    """(name, from_logits) of a compiled model's loss, read from its compile config."""
    loss = (model.get_compile_config() or {}).get("loss")
    if isinstance(loss, dict):  # a Loss object, or a loss function by name ({"config": "binary_crossentropy"})
        config = loss.get("config") or {}
        if isinstance(config, str):
            return config.lower(), False
        return str(config.get("name") or loss.get("class_name", "")).lower(), bool(config.get("from_logits"))
    return str(getattr(loss, "__name__", loss)).lower(), False


def labels_for(model, labels: np.ndarray) -> np.ndarray:
    """The labels 0/1 as the model's loss wants them: one-hot for a categorical (not sparse) loss on two units."""
    name, _ = loss_of(model)
    if model.output_shape[-1] == 2 and name.startswith("categorical"):
        return np.eye(2, dtype="float32")[np.asarray(labels, dtype=int)]
    return labels


def probabilities(model, outputs: np.ndarray) -> np.ndarray:
    """The model's outputs as probabilities: a loss with ``from_logits=True`` means the outputs are logits."""
    if not loss_of(model)[1]:
        return outputs
    z = np.asarray(outputs, dtype=np.float64)
    if z.shape[-1] == 1:
        return 1 / (1 + np.exp(-z))
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def train_classifier(build: HeadBuilder, seed: int = 0, *, epochs: int, batch_size: int, callbacks=(), kept=None,
                     on_epoch=None) -> Run:
    """Train a classification head on the cached ``shapes`` features; validate on the test split.

    The labels are 0 and 1 (one-hot for a categorical loss on two units); the run's predictions are
    probabilities (a head trained on logits is read through its sigmoid or softmax).  A head with BatchNorm is
    validated with its statistics measured over the training features (``training.refresh_batchnorm``); any
    other head's run is the same either way.
    """
    train_set, test_set = shapes_features()
    with quiet():  # Keras's own warning about a softmax over one unit: a lesson shows that at length
        return train_head(build, train_set, test_set, epochs=epochs, batch_size=batch_size, seed=seed,
                          callbacks=callbacks, kept=kept, targets_for=labels_for, read_outputs=probabilities,
                          on_epoch=on_epoch, measure_batchnorm=True)


def assert_classifier_converged(run: Run, min_accuracy: float) -> None:
    """The classifier's graded assertions: 1 or 2 outputs, a finite falling loss, predictions that vary, and at
    least ``min_accuracy`` validation accuracy."""
    outputs = run.final_predictions
    assert outputs.ndim == 2 and outputs.shape[1] in (1, 2), (
        f"the head should output 1 unit (probability of class 1) or 2 units (one per class), not {outputs.shape[1:]}")
    grading.assert_loss_finite_and_falling(run)
    probs = positive_probability(outputs)
    assert np.all(np.isfinite(probs)), "some predictions are NaN or infinite"
    if distinct_values(probs) == 1:
        hint = ": a softmax over one unit always gives 1.0" if abs(probs[0] - 1) <= FLOAT32_TOLERANCE else ""
        raise AssertionError(f"every prediction is {probs[0]:.6g} (one value up to {FLOAT32_TOLERANCE:g}), so the output "
                             f"carries no information{hint}")
    assert probs.std() > 0.05, (
        f"the predictions hardly vary (all near {np.nanmean(probs):.3f}): the output carries no information")
    acc = accuracy(outputs, run.val_targets)
    epochs = len(run.history["loss"])
    assert acc >= min_accuracy, f"validation accuracy {acc:.3f} is below {min_accuracy} after {epochs} epochs"


def classifier_metric(run: Run) -> float:
    """What the classifier's check thresholds: validation accuracy."""
    return accuracy(run.final_predictions, run.val_targets)


# ---- the regressor: question 002's head on the road features ------------------------------------------------

RESIZE_TO = (96, 96)  # question 002 resized its 96x320 images to the backbone's input inside the model
REGRESSOR_FIX = "linear"  # question 002's output activation, fixed
REGRESSOR_METRIC = "val Huber loss"  # what regressor_metric measures, for the calibration tables
# The regressor's graded thresholds, the same in every lesson that grades it (each lesson's calibration/ measures them).
MAX_VAL_HUBER = 0.07
MIN_NEGATIVE_SHARE = 0.3  # about half of the validation angles are negative
MAX_ERROR_RATIO = 2.0  # mean error on negative angles against positive ones (and back)


def road_features() -> Features:
    """(train, val) cached features of ``road``, resized to 96x96 inside the model, with their steering angles."""
    return cached_features("road", "train", resize_to=RESIZE_TO), cached_features("road", "val", resize_to=RESIZE_TO)


def fixed_regressor(optimizer: OptimizerFactory = adam()) -> HeadBuilder:
    """Question 002's head with its fixed output (``REGRESSOR_FIX``), trained with ``optimizer``."""
    return question002_regressor(REGRESSOR_FIX, optimizer, name=REGRESSOR_FIX)


def train_regressor(build: HeadBuilder, seed: int = 0, *, epochs: int, batch_size: int, callbacks=(), kept=None,
                    on_epoch=None, target_shift: float = 0.0) -> Run:
    """Train a regression head on the cached ``road`` features; validate on ``val``.

    ``target_shift`` trains on ``angle + target_shift`` (a tempting wrong fix that keeps the relu); the run's
    ``val_targets`` stay the true angles, so whatever the head outputs is judged as an angle.
    """
    (x_train, y_train), (x_val, y_val) = road_features()

    def with_true_angles(run: Run) -> Run:
        return dataclasses.replace(run, val_targets=y_val)

    run = train_head(build, (x_train, y_train + target_shift), (x_val, y_val + target_shift),
                     epochs=epochs, batch_size=batch_size, seed=seed, callbacks=callbacks, kept=kept,
                     on_epoch=on_epoch and (lambda so_far: on_epoch(with_true_angles(so_far))))
    return with_true_angles(run)


def assert_regressor_converged(run: Run) -> None:
    """The regressor's graded assertions: 1 output, a finite falling loss, enough negative predictions, both
    signs of angle fitted alike, and a validation Huber loss of at most ``MAX_VAL_HUBER``."""
    outputs = run.final_predictions
    assert outputs.ndim == 2 and outputs.shape[1] == 1, (
        f"the head should output 1 unit (the angle), not {outputs.shape[1:]}")
    grading.assert_loss_finite_and_falling(run)
    assert np.all(np.isfinite(outputs)), "some predictions are NaN or infinite"
    s = regression_symptoms(run)
    assert s["negative_prediction_share"] >= MIN_NEGATIVE_SHARE, (
        f"only {s['negative_prediction_share']:.1%} of the predictions are negative, but about "
        f"{s['negative_angle_share']:.0%} of the angles are: can the output layer produce a negative number?")
    ratio = s["mae_negative_angles"] / max(s["mae_positive_angles"], 1e-9)
    assert 1 / MAX_ERROR_RATIO <= ratio <= MAX_ERROR_RATIO, (
        f"mean error {s['mae_negative_angles']:.3f} on negative angles against {s['mae_positive_angles']:.3f} on "
        "positive ones: the head should fit both signs alike")
    assert s["val_huber"] <= MAX_VAL_HUBER, (
        f"validation Huber loss {s['val_huber']:.4f} is above {MAX_VAL_HUBER} after {len(run.history['loss'])} epochs")


def regressor_metric(run: Run) -> float:
    """What the regressor's check thresholds: the validation Huber loss of the predictions as angles."""
    return huber(run.final_predictions, run.val_targets)
