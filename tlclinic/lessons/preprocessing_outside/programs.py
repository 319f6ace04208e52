"""The programs of lesson 05: where the backbone's preprocessing goes, in the data pipeline or in the model.

Each program is a ``build_model(backbone) -> (preprocessing, model)``, the student's kind of answer: what the
training pipeline does to the images, and the compiled model around the frozen backbone with a new head for two
classes.  The backbone (like InceptionV3) expects pixels in [-1, 1]: ``preprocess_input`` maps 0..255 there,
as ``Rescaling(1/127.5, offset=-1)`` does.
"""
from __future__ import annotations

from typing import Callable

import keras
from keras import layers

from ...data import RECIPES

IMAGE_SHAPE = (*RECIPES["shapes"].size, 3)
HEAD_RATE = 1e-3


def unit_range() -> layers.Layer:
    """The backbone's own preprocessing: 0..255 to [-1, 1] (``inception_v3.preprocess_input``)."""
    return layers.Rescaling(1 / 127.5, offset=-1)


def zero_one() -> layers.Layer:
    """``ImageDataGenerator(rescale=1./255)``: 0..255 to [0, 1], not this backbone's range."""
    return layers.Rescaling(1 / 255)


def program(in_pipeline: Callable | None, in_model: Callable | None, hidden: int | None = None,
            units: int = 2) -> Callable:
    """``build_model``: ``in_pipeline()`` applied by the data pipeline, ``in_model()`` as the model's first layer
    (either may be None), the frozen backbone, ``Dense(hidden, relu)`` when given, and ``units`` outputs
    (2: softmax and sparse categorical cross-entropy; 1: sigmoid and binary cross-entropy), Adam at 1e-3."""
    def build_model(backbone: keras.Model):
        inputs = keras.Input(IMAGE_SHAPE)
        x = in_model()(inputs) if in_model else inputs
        backbone.trainable = False
        x = backbone(x, training=False)
        if hidden:
            x = layers.Dense(hidden, activation="relu")(x)
        if units == 2:
            outputs, loss = layers.Dense(2, activation="softmax")(x), "sparse_categorical_crossentropy"
        else:
            outputs, loss = layers.Dense(1, activation="sigmoid")(x), "binary_crossentropy"
        model = keras.Model(inputs, outputs)
        model.compile(keras.optimizers.Adam(HEAD_RATE), loss, metrics=["accuracy"])
        return (in_pipeline() if in_pipeline else None), model

    return build_model


# The live control's choices: where the preprocessing is.
QUESTION = "in the data pipeline (the question)"
FIX = "in the model"
BOTH = "in both"
NOWHERE = "nowhere"
PLACES = {QUESTION: program(unit_range, None), FIX: program(None, unit_range), BOTH: program(unit_range, unit_range),
          NOWHERE: program(None, None)}


def calibration_answers() -> dict[str, tuple[Callable, bool]]:
    """The public family the check is calibrated on: name -> (build_model, should pass)."""
    return {
        "question: Rescaling(1/127.5, offset=-1) in the pipeline only": (PLACES[QUESTION], False),
        "question: Rescaling(1/255) in the pipeline only": (program(zero_one, None), False),
        "fix: Rescaling(1/127.5, offset=-1) in the model": (PLACES[FIX], True),
        "fix, with a Dense(64) head": (program(None, unit_range, hidden=64), True),
        "fix, with one sigmoid unit": (program(None, unit_range, units=1), True),
        "fix: Normalization(mean=127.5, variance=127.5**2) in the model":
            (program(None, lambda: layers.Normalization(mean=127.5, variance=127.5 ** 2)), True),
        "the wrong range in the model: Rescaling(1/255)": (program(None, zero_one), False),
        "half: Rescaling(1/127.5, offset=-1) in the pipeline and in the model": (PLACES[BOTH], False),
        "half: no preprocessing anywhere": (PLACES[NOWHERE], False),
    }
