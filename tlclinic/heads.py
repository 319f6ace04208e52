"""The heads of the two questions, broken as asked and fixed.

A head builder takes the feature size and returns a compiled Keras model that
maps backbone features to a prediction: the part of the seed programs that
trains on top of the frozen backbone.
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

# Question 000's classification head: name -> (output units, output activation, loss).
CLASSIFIER_OUTPUTS = {
    "softmax over 1 unit (question 000)": (1, "softmax", "binary_crossentropy"),
    "sigmoid + binary cross-entropy": (1, "sigmoid", "binary_crossentropy"),
    "softmax over 2 units + sparse categorical cross-entropy": (2, "softmax", "sparse_categorical_crossentropy"),
}
# Half fixes: each changes one thing but leaves the head unable to learn; graders must fail them.
CLASSIFIER_HALF_FIXES = {
    "sigmoid + categorical cross-entropy": (1, "sigmoid", "categorical_crossentropy"),
    "softmax over 2 units + binary cross-entropy": (2, "softmax", "binary_crossentropy"),
}


def question000_classifier(output: str = "softmax over 1 unit (question 000)",
                       optimizer: OptimizerFactory = adam()) -> HeadBuilder:
    """Question 000's head: Dense 1024, 512, 32 (relu), then the chosen output layer and loss."""
    units, activation, loss = {**CLASSIFIER_OUTPUTS, **CLASSIFIER_HALF_FIXES}[output]

    def build(input_dim: int) -> keras.Model:
        inputs = keras.Input((input_dim,))
        x = layers.Dense(1024, activation="relu")(inputs)
        x = layers.Dense(512, activation="relu")(x)
        x = layers.Dense(32, activation="relu")(x)
        outputs = layers.Dense(units, activation=activation)(x)
        model = keras.Model(inputs, outputs)
        model.compile(optimizer=optimizer(), loss=loss, metrics=["accuracy"])
        return model

    build.__name__ = f"question000_classifier[{output}]"
    return build


# Question 002's regression head: name -> output activation.  A steering angle lies in [-1, 1].
REGRESSOR_OUTPUTS = {
    "relu (question 002)": "relu",
    "linear": "linear",
    "tanh": "tanh",
}


def question002_regressor(output: str = "relu (question 002)", optimizer: OptimizerFactory = adam()) -> HeadBuilder:
    """Question 002's head: Dense 512, 256, Dropout, 128, 64, Dropout (relu), the chosen output, Huber(0.5).

    ``output`` is a name of ``REGRESSOR_OUTPUTS`` or a Keras activation.
    """
    activation = REGRESSOR_OUTPUTS.get(output, output)

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

    build.__name__ = f"question002_regressor[{output}]"
    return build
