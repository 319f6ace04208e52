"""Lesson 05's kind of answer: ``build_model(backbone) -> (preprocessing, model)``, crossed as two Keras configs.

``preprocessing`` is what the training data pipeline does to the images (a Keras layer, such as
``Rescaling(1/127.5, offset=-1)`` for ``ImageDataGenerator(preprocessing_function=preprocess_input)``, or
``None`` for nothing); ``model`` is the compiled model around the backbone, as it will be deployed: called on the
images as they are loaded.
"""
from __future__ import annotations

import copy
from typing import Callable

from ...crossing import (Answer, Refused, compiled_config, model_data, refuse_adapted, refuse_large_outputs,
                         safe_model)
from .programs import IMAGE_SHAPE


class PreprocessedModelAnswer(Answer):
    kind = "preprocessing-and-model"

    def cross(self, answer: Callable) -> dict:
        import keras

        from ...backbone import build_mini_inception

        built = answer(build_mini_inception())
        got = type(built[1] if isinstance(built, tuple) and len(built) == 2 else built).__name__
        if not (isinstance(built, tuple) and len(built) == 2 and isinstance(built[1], keras.Model)):
            raise TypeError(f"{self.name} should return (preprocessing, model): a Keras layer or None, and a "
                            f"compiled keras.Model; not {got}")
        preprocessing, model = built
        if preprocessing is not None and not isinstance(preprocessing, keras.layers.Layer):
            raise TypeError("the preprocessing should be a Keras layer (e.g. keras.layers.Rescaling(...)) or None, "
                            f"not {type(preprocessing).__name__}: a function cannot cross to the grader")
        refuse_adapted([*model._flatten_layers(), *([preprocessing] if preprocessing is not None else [])], self.name)
        return {"preprocessing": None if preprocessing is None else keras.saving.serialize_keras_object(preprocessing),
                "model": model_data(model), "compile": compiled_config(model, self.name)}

    def rebuild(self, crossed: dict) -> Callable:
        import keras

        def preprocessing():
            if crossed["preprocessing"] is None:
                return None
            layer = keras.saving.deserialize_keras_object(copy.deepcopy(crossed["preprocessing"]), safe_mode=True)
            if not isinstance(layer, keras.layers.Layer):
                raise Refused(f"the preprocessing's config describes a {type(layer).__name__}, not a Keras layer")
            refuse_large_outputs(keras.Sequential([keras.Input(IMAGE_SHAPE), layer]))  # bounded as the model is
            return layer

        def build_model(backbone):
            return preprocessing(), safe_model(crossed["model"], crossed["compile"])

        preprocessing()  # refused here, before anything trains, when it is not a bounded Keras layer
        return build_model

    def models(self, crossed: dict) -> list:
        return [crossed["model"], *([crossed["preprocessing"]] if crossed["preprocessing"] else [])]
