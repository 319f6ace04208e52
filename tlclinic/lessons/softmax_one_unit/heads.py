"""Lesson 01's heads: question 000's head with each output layer the lesson shows, and the family of answers its
check is calibrated on."""
from __future__ import annotations

import keras
from keras import layers

from ...heads import HeadBuilder, OptimizerFactory, adam, question000_classifier
from ...tasks import CLASSIFIER_FIX, CLASSIFIER_FIX_OUTPUT

BROKEN = "softmax over 1 unit (question 000)"
FIX = CLASSIFIER_FIX  # "sigmoid + binary cross-entropy": the fixed output of tlclinic.tasks.fixed_classifier
# name -> (output units, output activation, loss): the question's output layer and its two fixes
OUTPUTS = {
    BROKEN: (1, "softmax", "binary_crossentropy"),
    FIX: CLASSIFIER_FIX_OUTPUT,  # (1, "sigmoid", "binary_crossentropy")
    "softmax over 2 units + sparse categorical cross-entropy": (2, "softmax", "sparse_categorical_crossentropy"),
}
# Half fixes: each changes one thing but leaves the head unable to learn; graders must fail them.
HALF_FIXES = {
    "sigmoid + categorical cross-entropy": (1, "sigmoid", "categorical_crossentropy"),
    "softmax over 2 units + binary cross-entropy": (2, "softmax", "binary_crossentropy"),
}


def classifier(output: str = BROKEN, optimizer: OptimizerFactory = adam()) -> HeadBuilder:
    """Question 000's head with the output layer and loss named ``output`` (of ``OUTPUTS`` or ``HALF_FIXES``)."""
    return question000_classifier(*{**OUTPUTS, **HALF_FIXES}[output], optimizer=optimizer, name=output)


def head(units: int, activation: str | None, loss, hidden=(1024, 512, 32), after_hidden=None,
         before_hidden=None) -> HeadBuilder:
    """A head of relu layers ``hidden`` (each followed by ``after_hidden()``, the first preceded by
    ``before_hidden()``, when given) and a chosen output."""
    def build(input_dim: int) -> keras.Model:
        inputs = keras.Input((input_dim,))
        x = before_hidden()(inputs) if before_hidden else inputs
        for width in hidden:
            x = layers.Dense(width, activation="relu")(x)
            x = after_hidden()(x) if after_hidden else x
        model = keras.Model(inputs, layers.Dense(units, activation=activation)(x))
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=loss, metrics=["accuracy"])
        return model

    return build


def calibration_answers() -> dict[str, tuple[HeadBuilder, bool | None]]:
    """The public family of answers the check is calibrated on: name -> (head, should pass; None: only measured)."""
    return {
        BROKEN: (classifier(BROKEN), False),
        **{name: (classifier(name), False) for name in HALF_FIXES},
        **{name: (classifier(name), True) for name in OUTPUTS if name != BROKEN},
        "one logit + binary cross-entropy(from_logits=True)":
            (head(1, None, keras.losses.BinaryCrossentropy(from_logits=True)), True),
        "two logits + sparse categorical cross-entropy(from_logits=True)":
            (head(2, None, keras.losses.SparseCategoricalCrossentropy(from_logits=True)), True),
        "softmax over 2 units + categorical cross-entropy on one-hot labels":
            (head(2, "softmax", "categorical_crossentropy"), True),
        "a smaller head, Dense(64) + sigmoid": (head(1, "sigmoid", "binary_crossentropy", hidden=(64,)), True),
        "Dropout(0.3) after each hidden layer + sigmoid":
            (head(1, "sigmoid", "binary_crossentropy", after_hidden=lambda: layers.Dropout(0.3)), True),
        "BatchNormalization of the features + sigmoid":
            (head(1, "sigmoid", "binary_crossentropy", before_hidden=layers.BatchNormalization), True),
        # Read from its moving averages (momentum 0.99, a fifth of their starting values left after 160 steps) it
        # validated at 0.55 to 0.91 over 20 seeds; the check measures BatchNorm statistics over the training
        # features (``training.refresh_batchnorm``), and so judges the head it trained.
        "BatchNormalization after each hidden layer + sigmoid":
            (head(1, "sigmoid", "binary_crossentropy", after_hidden=layers.BatchNormalization), True),
    }
