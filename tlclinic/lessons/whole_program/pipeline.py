"""Question 000's whole program in Keras 3, every bug a switch: the images, the model, the two training stages.

``Choices`` holds one flag per bug (True: as question 000 wrote it).  ``build_model`` and ``fine_tune`` are the
lesson's own version of what the student writes; ``train_pipeline`` runs any such pair through the two stages the
grader uses (the new head on the frozen backbone, then one epoch of fine-tuning) and measures what the grader
judges: what the backbone is fed, whether its BatchNorm statistics and its features survived, the accuracy.
"""
from __future__ import annotations

import functools
import time
from dataclasses import dataclass, fields, replace
from typing import Callable

import keras
import numpy as np
from keras import layers

from ... import data
from ...backbone import backbone_in, fed_to, get_backbone
from ...symptoms import accuracy
from ...training import FirstPicture, Run, _EachEpoch, _RecordPredictions, fit_shuffled

QUESTION_SIZE = 64  # question 000 loaded its images at 64x64
NATIVE_SIZE = data.RECIPES["shapes"].size[0]  # the shapes images are drawn at 96x96
QUESTION_INDEX = 249  # question 000 froze model.layers[:249]: InceptionV3's count, not this backbone's
TOP_BLOCK_AFTER = {"mini_inception": "mixed1", "inception_v3": "mixed8"}  # fine-tune the block(s) above this layer
HEAD_RATE, FINE_TUNE_RATE = 1e-3, 1e-5  # Adam's default trains the new head; fine-tuning goes 100 times slower
HEAD_EPOCHS, FINE_TUNE_EPOCHS, BATCH_SIZE = 3, 1, 32
PROBE_IMAGES = 64  # training images fed through the model to read what the backbone receives


@dataclass(frozen=True)
class Choices:
    """Each of question 000's bugs, on (True: as the question wrote it) or off (fixed)."""

    rescale_255: bool = True  # ImageDataGenerator(rescale=1./255): pixels in [0, 1], not the backbone's [-1, 1]
    inputs_64: bool = True  # target_size=(64, 64): the images shrunk from 96x96
    freeze_by_index: bool = True  # model.layers[:249] frozen, [249:] unfrozen, instead of the top block by name
    batchnorm_training: bool = True  # the unfrozen block's BatchNorm layers train (training=False does not stop it)
    fine_tune_rate_1e3: bool = True  # fine-tuning with Adam's default 1e-3, the head's rate


QUESTION = Choices()
FIXED = Choices(**{f.name: False for f in fields(Choices)})
BUGS = tuple(f.name for f in fields(Choices))


def only(bug: str) -> Choices:
    """The fixed pipeline with one bug put back."""
    return replace(FIXED, **{bug: True})


@functools.cache
def images(split: str, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """One split of ``shapes`` as ``image_dataset_from_directory`` loads it at ``height`` x ``width``: float32
    images with values 0..255 and 0/1 labels, in file order."""
    folder = data.ensure("shapes") / split
    dataset = keras.utils.image_dataset_from_directory(folder, image_size=(height, width), batch_size=None,
                                                       shuffle=False, label_mode="binary", verbose=False)
    x, y = zip(*((keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b)) for a, b in dataset))
    return np.stack(x).astype(np.float32), np.stack(y).astype(np.float32)[:, 0]


def augmentation(seed: int) -> keras.Sequential:
    """Question 000's shear_range=0.2, zoom_range=0.2, horizontal_flip=True, as Keras 3 preprocessing layers."""
    return keras.Sequential([layers.RandomFlip("horizontal", seed=seed), layers.RandomZoom(0.2, seed=seed + 1),
                             layers.RandomShear(0.2, 0.2, seed=seed + 2)], name="augmentation")


def build_model(backbone: keras.Model, choices: Choices = QUESTION, seed: int = 0, augment: bool = False,
                preprocess: str = "rescaling", resize_to: int | None = None) -> keras.Model:
    """Pixels 0..255 in, the probability of class 1 out; compiled to train the new head on the frozen backbone.

    ``preprocess`` (when the 1/255 bug is off): ``"rescaling"`` (``Rescaling(1/127.5, offset=-1)``) or
    ``"preprocess_input"`` (InceptionV3's own function, applied to the model's input); ``resize_to`` puts a
    ``Resizing`` layer in the model, after the input the images are loaded at."""
    size = QUESTION_SIZE if choices.inputs_64 else NATIVE_SIZE
    inputs = keras.Input((size, size, 3), name="pixels")
    x = augmentation(seed)(inputs) if augment else inputs
    x = layers.Resizing(resize_to, resize_to)(x) if resize_to else x
    if choices.rescale_255:
        x = layers.Rescaling(1 / 255)(x)
    elif preprocess == "preprocess_input":
        x = keras.applications.inception_v3.preprocess_input(x)
    else:
        x = layers.Rescaling(1 / 127.5, offset=-1)(x)
    backbone.trainable = False
    x = backbone(x, training=False)  # the Keras guide's advice; on Keras 3, fit's training=True overrides it
    for units in (1024, 512, 32):
        x = layers.Dense(units, activation="relu")(x)
    outputs = layers.Dense(1, activation="sigmoid")(x)  # lesson 01's fix of Dense(1, softmax)
    model = keras.Model(inputs, outputs)
    model.compile(keras.optimizers.Adam(HEAD_RATE), "binary_crossentropy", metrics=["accuracy"])
    return model


def unfreeze_above(backbone: keras.Model, name: str, batchnorm: bool = False) -> None:
    """Make trainable every layer of ``backbone`` after the one named ``name``, its BatchNormalization layers
    only when ``batchnorm``; freeze the rest."""
    names = [layer.name for layer in backbone.layers]
    if name not in names:
        raise ValueError(f"{backbone.name} has no layer named {name!r}; its blocks end at "
                         + ", ".join(n for n in names if n.startswith("mixed")))
    backbone.trainable = True
    for index, layer in enumerate(backbone.layers):
        layer.trainable = index > names.index(name) and (batchnorm or not isinstance(layer, layers.BatchNormalization))


def fine_tune(model: keras.Model, backbone: keras.Model, choices: Choices = QUESTION) -> None:
    """Unfreeze the top of the backbone and recompile for the second stage."""
    if choices.freeze_by_index:
        for layer in model.layers[:QUESTION_INDEX]:
            layer.trainable = False
        for layer in model.layers[QUESTION_INDEX:]:
            layer.trainable = True
    else:
        unfreeze_above(backbone, TOP_BLOCK_AFTER[backbone.name], batchnorm=choices.batchnorm_training)
    rate = HEAD_RATE if choices.fine_tune_rate_1e3 else FINE_TUNE_RATE
    model.compile(keras.optimizers.Adam(rate), "binary_crossentropy", metrics=["accuracy"])


def pipeline_of(choices: Choices, seed: int = 0, **options) -> Callable:
    """The lesson's own ``build_pipeline`` with ``choices`` (``options``: those of ``build_model``)."""
    def build_pipeline(backbone: keras.Model):
        model = build_model(backbone, choices, seed, **options)
        return model, lambda: fine_tune(model, backbone, choices)
    return build_pipeline


@dataclass
class PipelineRun(Run):
    """Both stages of one pipeline: ``history`` and ``val_predictions`` run on across them, the head's first."""

    head_epochs: int = HEAD_EPOCHS
    backbone_input: tuple[float, float, int] = (0.0, 0.0, 0)  # min and max value, smaller side, as the backbone saw
    batchnorm_drift: float = 0.0  # the largest change of any BatchNorm moving mean or variance in the backbone
    weights_moved: float = 0.0  # the largest relative change of a backbone weight tensor in fine-tuning
    feature_change: float = 0.0  # how far fine-tuning moved the backbone's features on the validation images
    finished: bool = True  # False for a run still training: the last four are measured when fine-tuning ends

    @property
    def frozen_accuracy(self) -> float:
        return accuracy(self.val_predictions[self.head_epochs - 1], self.val_targets)

    @property
    def fine_tuned_accuracy(self) -> float:
        return accuracy(self.val_predictions[-1], self.val_targets)


def _batchnorm_statistics(model: keras.Model) -> list[np.ndarray]:
    return [keras.ops.convert_to_numpy(v) for layer in model._flatten_layers()
            if isinstance(layer, layers.BatchNormalization) for v in (layer.moving_mean, layer.moving_variance)]


def _relative_changes(before: list[np.ndarray], after: list[np.ndarray]) -> float:
    return max(float(np.linalg.norm(a - b) / (np.linalg.norm(b) + 1e-12)) for a, b in zip(after, before))


def train_pipeline(build_pipeline: Callable, seed: int = 0, backbone: str = "mini_inception",
                   callbacks=(), on_epoch: Callable[[PipelineRun], None] | None = None) -> PipelineRun:
    """``model, fine_tune = build_pipeline(backbone)``; train the head, ``fine_tune()``, fine-tune; measured on
    the test split.  ``on_epoch(run so far)``, unfinished, is called after each epoch of either stage, and
    first after the head's first few batches (``training.FirstPicture``).

    ``build_pipeline`` gets a fresh copy of the pretrained backbone; whichever copy the model calls gets the
    pretrained weights before training (a model rebuilt from its config starts with random ones).  The images
    are loaded at the model's input size, as ``image_dataset_from_directory(image_size=...)`` gives them.
    """
    start = time.perf_counter()
    trusted = get_backbone(backbone).model
    keras.utils.set_random_seed(seed)
    copy = keras.models.clone_model(trusted)
    model, tune = build_pipeline(copy)
    inner = backbone_in(model, trusted)
    inner.set_weights(trusted.get_weights())
    height, width = (int(n) for n in model.input_shape[1:3])
    (x, y), (x_val, y_val) = images("train", height, width), images("test", height, width)
    feeding = fed_to(model, inner)
    fed, fed_val = (keras.ops.convert_to_numpy(feeding(batch, training=False)) for batch in (x[:PROBE_IMAGES], x_val))
    statistics, weights = _batchnorm_statistics(inner), [w.numpy() for w in inner.weights]
    features = keras.ops.convert_to_numpy(trusted(fed_val, training=False))
    predictions: list[np.ndarray] = []
    record = _RecordPredictions(x_val, predictions)
    backbone_input = (float(fed.min()), float(fed.max()), int(min(fed.shape[1:3])))

    def so_far(before: dict[str, list[float]], history: dict[str, list[float]]) -> PipelineRun:
        return PipelineRun(model, {key: [*before.get(key, []), *values] for key, values in history.items()},
                           predictions, y_val, time.perf_counter() - start, seed, HEAD_EPOCHS, backbone_input,
                           finished=False)

    def each_epoch(before: dict[str, list[float]]) -> list:
        """on_epoch with the history of the stages before; in the first stage, first after a few batches."""
        if not on_epoch:
            return []
        grown = lambda history: so_far(before, history)  # noqa: E731
        return [*([] if before else [FirstPicture(on_epoch, grown, x_val)]),
                _EachEpoch(lambda history: on_epoch(grown(history)))]

    history = fit_shuffled(model, x, y, HEAD_EPOCHS, BATCH_SIZE, seed, validation_data=(x_val, y_val),
                           callbacks=[record, *callbacks, *each_epoch({})])
    tune()
    for key, values in fit_shuffled(model, x, y, FINE_TUNE_EPOCHS, BATCH_SIZE, seed + 1,
                                    validation_data=(x_val, y_val),
                                    callbacks=[record, *callbacks, *each_epoch(history)]).items():
        history.setdefault(key, []).extend(values)
    tuned = keras.ops.convert_to_numpy(inner(fed_val, training=False))
    return PipelineRun(
        model, history, predictions, y_val, time.perf_counter() - start, seed, HEAD_EPOCHS, backbone_input,
        batchnorm_drift=max(float(np.max(np.abs(a - b))) for a, b in zip(_batchnorm_statistics(inner), statistics)),
        weights_moved=_relative_changes(weights, [w.numpy() for w in inner.weights]),
        feature_change=float(np.linalg.norm(tuned - features) / np.linalg.norm(features)))
