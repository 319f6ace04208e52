"""Lesson 03's kind of answer: ``make_optimizer() -> a new Keras optimizer``, crossed as its config."""
from __future__ import annotations

import copy
from typing import Callable

from ...crossing import Answer


class OptimizerAnswer(Answer):
    """The optimizer's config, and whether two calls gave two optimizers (each head needs its own)."""

    kind = "optimizer"

    def cross(self, answer: Callable) -> dict:
        import keras

        first, second = answer(), answer()
        if not isinstance(first, keras.optimizers.Optimizer):
            raise TypeError(f"{self.name} should return a Keras optimizer, not {type(first).__name__}")
        return {"optimizer": keras.optimizers.serialize(first), "new_each_call": first is not second}

    def rebuild(self, crossed: dict) -> Callable:
        import keras

        if not crossed.get("new_each_call", True):
            raise AssertionError(f"{self.name} returned the same optimizer twice: it should make a new one on "
                                 "every call (each head needs its own)")
        optimizer_config = crossed["optimizer"]
        return lambda: keras.optimizers.deserialize(copy.deepcopy(optimizer_config))
