"""Lesson 04's kind of answer: ``build_pipeline(backbone) -> (compiled model, fine_tune)``, crossed as the model's
config and compile config as built, and again after ``fine_tune()`` (which differ only in which layers train and
in the second stage's compile config)."""
from __future__ import annotations

from typing import Any, Callable

from ...crossing import Answer, Refused, compile_from, compiled_config, model_data, safe_model


class PipelineAnswer(Answer):
    kind = "pipeline"

    def cross(self, answer: Callable) -> dict:
        import keras

        from ...backbone import build_mini_inception

        built = answer(build_mini_inception())
        if not (isinstance(built, tuple) and len(built) == 2 and isinstance(built[0], keras.Model)
                and callable(built[1])):
            raise TypeError(f"{self.name} should return (model, fine_tune): a compiled keras.Model and a function of "
                            f"no arguments that prepares it for fine-tuning, not {type(built).__name__}")
        model, fine_tune = built
        crossed = {"model": model_data(model), "compile": compiled_config(model, self.name)}
        fine_tune()
        return {**crossed, "tuned": model_data(model), "tuned_compile": compiled_config(model, self.name)}

    def rebuild(self, crossed: dict) -> Callable:
        """``build_pipeline`` again from its data: the model from its config, ``fine_tune`` as the trainable flags
        and compile config it left (the backbone it is given is not used: the model's config holds its own)."""
        if _without_trainable(crossed["model"]) != _without_trainable(crossed["tuned"]):
            raise Refused("fine_tune changed the model itself: it should only choose which layers train and compile")
        flags = _trainable_flags(crossed["tuned"])

        def build_pipeline(backbone):
            model = safe_model(crossed["model"], crossed["compile"])

            def fine_tune():
                _set_trainable(model, flags)
                compile_from(model, crossed["tuned_compile"])

            return model, fine_tune

        return build_pipeline

    def models(self, crossed: dict) -> list:
        return [crossed["model"]]  # "tuned" is the same model (rebuild refuses it otherwise): count it once


def _trainable_flags(config: dict, path: tuple = ()) -> dict[tuple, bool]:
    """The path of layer names from the model down to each of its layers (nested models' too; () for the model
    itself, whatever its name) -> that layer's ``trainable``, in a serialised model."""
    inner = config.get("config") or {}
    flags = {path: bool(inner["trainable"])} if "trainable" in inner else {}
    for child in inner.get("layers") or []:
        flags.update(_trainable_flags(child, (*path, (child.get("config") or {}).get("name"))))
    return flags


def _without_trainable(config: Any) -> Any:
    """A serialised model less what ``fine_tune`` may change: the trainable flags and the compile config."""
    if isinstance(config, dict):
        return {k: _without_trainable(v) for k, v in config.items() if k not in ("trainable", "compile_config")}
    return [_without_trainable(v) for v in config] if isinstance(config, list) else config


def _set_trainable(layer, flags: dict[tuple, bool], path: tuple = ()) -> None:
    """Set each layer's ``trainable`` from ``flags``, a container before what it holds (Keras passes a
    container's flag down to its layers)."""
    if path in flags:
        layer.trainable = flags[path]
    for child in getattr(layer, "layers", None) or []:
        _set_trainable(child, flags, (*path, child.name))
