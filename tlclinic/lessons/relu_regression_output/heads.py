"""Lesson 02's heads: question 002's head with each output activation the lesson shows, and the family of
answers its check is calibrated on."""
from __future__ import annotations

import keras

from ...heads import HeadBuilder, OptimizerFactory, adam, question002_regressor
from ...tasks import REGRESSOR_FIX

BROKEN = "relu (question 002)"
FIX = REGRESSOR_FIX  # "linear": the regressor's fixed output (tlclinic.tasks.fixed_regressor)
# name -> output activation.  A steering angle lies in [-1, 1].
OUTPUTS = {BROKEN: "relu", FIX: "linear", "tanh": "tanh"}
SHIFTED = "relu, targets shifted by +1 and not shifted back"  # a tempting wrong fix that keeps the relu


def regressor(output: str = BROKEN, optimizer: OptimizerFactory = adam()) -> HeadBuilder:
    """Question 002's head with the output named ``output`` (of ``OUTPUTS``, or any Keras activation)."""
    return question002_regressor(OUTPUTS.get(output, output), optimizer, name=output)


def with_loss(build: HeadBuilder, loss) -> HeadBuilder:
    """``build``'s head compiled with another loss."""
    def rebuilt(input_dim: int) -> keras.Model:
        model = build(input_dim)
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=loss)
        return model

    return rebuilt


def calibration_answers() -> dict[str, tuple[HeadBuilder, bool]]:
    """The public family of answers the check is calibrated on: name -> (head, should pass)."""
    return {
        **{name: (regressor(name), name != BROKEN) for name in OUTPUTS},
        "elu": (regressor("elu"), True),
        "leaky_relu": (regressor("leaky_relu"), True),
        "linear + mean squared error": (with_loss(regressor(FIX), "mean_squared_error"), True),
    }
