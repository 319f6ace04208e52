"""Question 000's program as it was written, ported line by line to Keras 3, and what each line does today.

``run_question`` loads the folders with ``image_dataset_from_directory`` at 64x64 in batches of 5, augments and
rescales by 1/255 as the question's ``ImageDataGenerator`` did, builds the flat ``Model(base.input, ...)``,
freezes ``model.layers[:249]`` and calls ``fit_generator``, then ``fit`` with ``steps_per_epoch=1000``.  It
records what raised, what warned and how many steps really ran.
"""
from __future__ import annotations

import collections
import warnings
from dataclasses import dataclass, field

import keras
import numpy as np
from keras import layers

from ... import data
from ...backbone import get_backbone
from .pipeline import QUESTION_INDEX, QUESTION_SIZE, augmentation

QUESTION_BATCH, QUESTION_STEPS, QUESTION_VALIDATION_STEPS = 5, 1000, 100
EPOCHS = 2  # the question ran 20; two show everything, in seconds


@dataclass
class QuestionRun:
    """What question 000's program did on Keras 3."""

    errors: dict[str, str]  # the call -> the exception it raised
    warnings: dict[str, int]  # a warning Keras gave -> how many times
    batches_per_epoch: int  # what the training folder holds at batch 5
    steps: list[int]  # training steps that really ran, per epoch
    layers: int  # layers of the flat model
    trainable_weights: int
    history: dict[str, list[float]] = field(default_factory=dict)
    val_accuracy: float = float("nan")


class _CountSteps(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.steps: list[int] = []

    def on_epoch_begin(self, epoch, logs=None):
        self.steps.append(0)

    def on_train_batch_end(self, batch, logs=None):
        self.steps[-1] += 1


def inception_v3_at(size: int = QUESTION_SIZE) -> str:
    """What ``InceptionV3(include_top=False, input_shape=(size, size, 3))`` raises ("" when it builds).

    The weights do not matter for the size check, so none are loaded: it runs offline."""
    from keras.applications import InceptionV3

    try:
        InceptionV3(weights=None, include_top=False, input_shape=(size, size, 3))
    except ValueError as error:
        return f"ValueError: {error}"
    return ""


def question_model() -> keras.Model:
    """The flat model of question 000 on a copy of the mini backbone, frozen as the question froze it."""
    base_model = keras.models.clone_model(get_backbone().model)
    base_model.set_weights(get_backbone().model.get_weights())
    x = base_model.output  # the mini backbone ends in its own global average pooling
    for units in (1024, 512, 32):
        x = layers.Dense(units, activation="relu")(x)
    predictions = layers.Dense(1, activation="sigmoid")(x)  # lesson 01's fix of Dense(1, softmax)
    model = keras.Model(inputs=base_model.input, outputs=predictions)
    for layer in base_model.layers:
        layer.trainable = False
    for layer in model.layers[:QUESTION_INDEX]:
        layer.trainable = False
    for layer in model.layers[QUESTION_INDEX:]:
        layer.trainable = True
    model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
    return model


def run_question(seed: int = 0, epochs: int = EPOCHS) -> QuestionRun:
    """Question 000's program on the mini backbone, its head already fixed (sigmoid), every other line kept."""
    keras.utils.set_random_seed(seed)
    folder = data.ensure("shapes")
    load = dict(image_size=(QUESTION_SIZE, QUESTION_SIZE), batch_size=QUESTION_BATCH, label_mode="binary",
                seed=seed, verbose=False)
    training_set = keras.utils.image_dataset_from_directory(folder / "train", **load)
    test_set = keras.utils.image_dataset_from_directory(folder / "test", shuffle=False, **load)
    augment = augmentation(seed).layers  # called one by one, each runs as TensorFlow inside tf.data on any backend

    def augmented(x):
        for layer in augment:
            x = layer(x, training=True)
        return x

    training_set = training_set.map(lambda x, y: (augmented(x) / 255.0, y))  # rescale=1./255
    test_set = test_set.map(lambda x, y: (x / 255.0, y))

    model = question_model()
    errors = {}
    try:
        model.fit_generator(training_set, steps_per_epoch=QUESTION_STEPS, epochs=epochs)
    except AttributeError as error:
        errors["model.fit_generator(...)"] = f"AttributeError: {error}"
    counter = _CountSteps()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = model.fit(training_set, steps_per_epoch=QUESTION_STEPS, epochs=epochs, validation_data=test_set,
                            validation_steps=QUESTION_VALIDATION_STEPS, callbacks=[counter], verbose=0)
    said = collections.Counter(str(w.message).split(";")[0] for w in caught if "ran out of data" in str(w.message))
    probabilities = model.predict(test_set, verbose=0)
    labels = np.concatenate([keras.ops.convert_to_numpy(y) for _, y in test_set])
    return QuestionRun(errors, dict(said), int(training_set.cardinality()), counter.steps, len(model.layers),
                       len(model.trainable_weights), {k: [float(v) for v in vs] for k, vs in history.history.items()},
                       float(np.mean((probabilities > 0.5) == (labels > 0.5))))
