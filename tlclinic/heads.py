"""The heads of the two questions, with their output layer and optimizer as parameters.

A head builder takes the feature size and returns a compiled Keras model that maps backbone features to a
prediction: the part of the questions' programs that trains on top of the frozen backbone.  Each lesson names
the output layers it shows (the question's, its fixes, its half fixes) and builds them here.
"""
from __future__ import annotations

from typing import Callable

import keras
from keras import layers

HeadBuilder = Callable[[int], keras.Model]
OptimizerFactory = Callable[[], keras.optimizers.Optimizer]  # a new optimizer for each model


def adam(learning_rate=1e-3) -> OptimizerFactory:
    """Adam at ``learning_rate`` (a number or a schedule), new for each model that asks."""
    return lambda: keras.optimizers.Adam(learning_rate)


def question000_classifier(units: int, activation: str | None, loss, optimizer: OptimizerFactory = adam(),
                           name: str = "") -> HeadBuilder:
    """Question 000's head: Dense 1024, 512, 32 (relu), then ``Dense(units, activation)`` trained on ``loss``."""
    def build(input_dim: int) -> keras.Model:
        inputs = keras.Input((input_dim,))
        x = layers.Dense(1024, activation="relu")(inputs)
        x = layers.Dense(512, activation="relu")(x)
        x = layers.Dense(32, activation="relu")(x)
        outputs = layers.Dense(units, activation=activation)(x)
        model = keras.Model(inputs, outputs)
        model.compile(optimizer=optimizer(), loss=loss, metrics=["accuracy"])
        return model

    build.__name__ = f"question000_classifier[{name or activation}]"
    return build


def question002_regressor(activation: str | None, optimizer: OptimizerFactory = adam(), name: str = "") -> HeadBuilder:
    """Question 002's head: Dense 512, 256, Dropout, 128, 64, Dropout (relu), ``Dense(1, activation)``, Huber(0.5)."""
    def build(input_dim: int) -> keras.Model:
        inputs = keras.Input((input_dim,))
        x = layers.Dense(512, activation="relu")(inputs)
        x = layers.Dense(256, activation="relu")(x)
        x = layers.Dropout(0.25)(x)
        x = layers.Dense(128, activation="relu")(x)
        x = layers.Dense(64, activation="relu")(x)
        x = layers.Dropout(0.25)(x)
        outputs = layers.Dense(1, activation=activation)(x)
        model = keras.Model(inputs, outputs)
        model.compile(optimizer=optimizer(), loss=keras.losses.Huber(delta=0.5))
        return model

    build.__name__ = f"question002_regressor[{name or activation}]"
    return build
