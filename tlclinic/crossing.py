"""A student's answer as data: the kinds of answer, and what the verifier refuses before it builds anything.

A student's answer is a function in the notebook.  It crosses to the verifier as data, never as code: on the
student's side (their kernel, or the grader's sandbox) an ``Answer`` calls it once and turns what it returned into
JSON, Keras configs; in the verifier, where no student code runs, the same ``Answer`` rebuilds a function from
that data alone, in Keras's safe mode, after ``refuse`` has checked that the data names nothing outside Keras and
asks for no more than the grader trains.

Each lesson names the kind of its answer (``Lesson.ANSWER``).  The head kind, which several lessons share, lives
here; a kind only one lesson uses lives in that lesson's folder.  A new kind is a subclass of ``Answer``: its
``kind``, ``cross`` and ``rebuild``, and ``models`` when its data holds more than one model.
"""
from __future__ import annotations

import copy
import json
import math
from typing import Any, Callable

MAX_PARAMETERS = 5_000_000  # the lessons' heads and models have 0.3 to 0.8 million; bounds the verifier's work
MAX_NUMBER = 1_000_000  # no whole number in a crossed layer's config is larger (units, filters, sizes, dimensions)
MAX_INPUT_VALUES = 2**18  # values per example of any input or layer output (the largest of the lessons: 27,648)
REFUSED_CLASSES = {"Lambda", "TorchModuleWrapper", "JaxLayer", "FlaxLayer", "TFSMLayer"}
PLAIN_VALUES = {"__keras_tensor__", "__tensor__", "__numpy__", "__bytes__", "__ellipsis__", "__slice__"}  # data
# How a backend runs the training, not what it trains: the grader's own choice, like the epochs and the batch size.
# A compile config records jit_compile="auto" resolved on the backend that compiled it (True on JAX, False on
# TensorFlow without a GPU), so an answer crosses without these and the verifier compiles with Keras's defaults.
EXECUTION_SETTINGS = ("jit_compile", "run_eagerly", "steps_per_execution")


class Refused(Exception):
    """The crossed answer is not plain Keras configuration, or asks for more than the grader trains."""


class Answer:
    """A kind of answer: the function the student writes (``name``), how it crosses as data and comes back.

    ``cross`` runs on the student's side and may run anything the student wrote; ``rebuild`` runs in the verifier
    on data that ``refuse`` has already passed.  The crossed data is a dict holding ``"kind"``.
    """

    kind = ""

    def __init__(self, name: str):
        self.name = name

    def cross(self, answer: Callable) -> dict:
        """Call the student's function and return what it made as JSON-able data (without ``"kind"``)."""
        raise NotImplementedError(f"{type(self).__name__} does not say how a {self.kind!r} answer crosses as data")

    def rebuild(self, crossed: dict) -> Callable:
        """The student's function again, built from ``crossed`` only."""
        raise NotImplementedError(f"{type(self).__name__} does not say how a {self.kind!r} answer is rebuilt")

    def models(self, crossed: dict) -> list:
        """The serialised models whose weights count against ``MAX_PARAMETERS`` (one per distinct model)."""
        return [crossed["model"]] if "model" in crossed else []

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


class HeadAnswer(Answer):
    """``build_head(input_dim) -> a compiled keras.Model``: a head on cached backbone features."""

    kind = "head"

    def __init__(self, name: str, input_dim: int):
        super().__init__(name)
        self.input_dim = input_dim

    def cross(self, answer: Callable) -> dict:
        import keras

        model = answer(self.input_dim)
        if not isinstance(model, keras.Model):
            raise TypeError(f"{self.name} should return a keras.Model, not {type(model).__name__}")
        refuse_adapted(model._flatten_layers(), self.name)
        return {"model": model_data(model), "compile": compiled_config(model, self.name)}

    def rebuild(self, crossed: dict) -> Callable:
        model_config, compile_config = crossed["model"], crossed["compile"]

        def build_head(input_dim: int):
            return safe_model(model_config, compile_config)

        return build_head


def compiled_config(model, name: str) -> dict:
    """A model's compile config, less ``EXECUTION_SETTINGS``; ``TypeError`` saying what to do when ``name``
    returned it uncompiled."""
    config = model.get_compile_config()
    if not config:
        raise TypeError(f"{name} should return a compiled model: call model.compile(...) before returning it")
    return without_execution(config)


def model_data(model) -> dict:
    """A model serialised, the compile config it holds less ``EXECUTION_SETTINGS``: the same on every backend."""
    import keras

    config = keras.saving.serialize_keras_object(model)
    if isinstance(config.get("compile_config"), dict):
        config["compile_config"] = without_execution(config["compile_config"])
    return config


def without_execution(compile_config: dict) -> dict:
    return {key: value for key, value in compile_config.items() if key not in EXECUTION_SETTINGS}


def compile_from(model, compile_config: dict) -> None:
    """Compile ``model`` from a crossed compile config, with the grader's execution settings whatever it holds."""
    model.compile_from_config(without_execution(copy.deepcopy(compile_config)))


def cross(answer_kind: Answer, answer: Any) -> dict:
    """The student's answer as JSON data, tagged with its kind (runs on the student's side)."""
    if not callable(answer):
        raise TypeError(f"the answer should be a function, not {type(answer).__name__}")
    return {"kind": answer_kind.kind, **answer_kind.cross(answer)}


def rebuild(answer_kind: Answer, crossed: dict) -> Callable:
    """The answer as a function again, built from its data only, after ``refuse``."""
    if not isinstance(crossed, dict) or crossed.get("kind") != answer_kind.kind:
        raise Refused(f"the answer crossed as {crossed.get('kind') if isinstance(crossed, dict) else crossed!r}, "
                      f"not as {answer_kind.kind!r} (this lesson's {answer_kind.name})")
    refuse(answer_kind, crossed)
    return answer_kind.rebuild(crossed)


def as_data_and_back(answer_kind: Answer, answer: Any) -> Callable:
    """``answer`` as the verifier receives it: crossed to data and rebuilt (calibration trains what grading does)."""
    return rebuild(answer_kind, json.loads(json.dumps(cross(answer_kind, answer))))


# ---- what the verifier refuses -----------------------------------------------------------------------------

def refuse(answer_kind: Answer, crossed: dict) -> None:
    """Raise ``Refused`` unless the data names only Keras's own objects and asks for no more than the grader
    trains (``refuse_unsafe``, ``refuse_too_large``)."""
    refuse_unsafe(crossed)
    refuse_too_large(crossed, answer_kind.models(crossed))


def refuse_unsafe(config: Any, where: str = "config") -> None:
    """Raise ``Refused`` unless every object the config names is one of Keras's own."""
    if isinstance(config, dict):
        module, name = config.get("module"), config.get("class_name")
        if (module is not None or name is not None) and not (module is None and name in PLAIN_VALUES):
            plain_function = module == "builtins" and name == "function" and str(config.get("config")).isidentifier()
            if not (plain_function or (isinstance(module, str) and module.split(".")[0] == "keras")):
                raise Refused(f"{where} names {module}.{name}: only Keras's own layers, losses, optimizers and "
                              "schedules can be graded")
            if name in REFUSED_CLASSES or ">" in str(config.get("registered_name") or ""):
                raise Refused(f"{where} uses {name}: custom code cannot cross to the grader; use Keras layers")
        for key, value in config.items():
            refuse_unsafe(value, f"{where}.{key}")
    elif isinstance(config, list):
        for index, value in enumerate(config):
            refuse_unsafe(value, f"{where}[{index}]")


def _layers(config: Any):
    """Every layer's serialised form in a config (nested models' layers too)."""
    if isinstance(config, dict):
        if isinstance(config.get("config"), dict) and "class_name" in config and "module" in config:
            module = str(config["module"])
            if (module.split(".")[0] == "keras" and ".layers" in module) or config["class_name"] in ("Functional",
                                                                                                 "Sequential"):
                yield config  # keras.layers..., and the same classes named by keras.src.layers...
        for value in config.values():
            yield from _layers(value)
    elif isinstance(config, list):
        for value in config:
            yield from _layers(value)


def _numbers(config: Any, key: str = ""):
    """(key, whole number) for every whole number in a config but random seeds."""
    if isinstance(config, dict):
        for k, value in config.items():
            if k != "seed":
                yield from _numbers(value, k)
    elif isinstance(config, (list, tuple)):
        for value in config:
            yield from _numbers(value, key)
    elif isinstance(config, int) and not isinstance(config, bool):
        yield key, config


def _weights(layer: dict) -> int:
    """The weights a layer's serialised form declares (its class's formula and the input shape it was built for;
    0 for a layer without weights of its own)."""
    config, name = layer["config"], layer["class_name"]
    shape = (layer.get("build_config") or {}).get("input_shape")
    inputs = shape[-1] if isinstance(shape, (list, tuple)) and shape and isinstance(shape[-1], int) else 1
    size = lambda key: math.prod(v for v in ([config[key]] if isinstance(config[key], int) else config[key]))
    if "units" in config and isinstance(config["units"], int):  # Dense, and the recurrent layers' gates
        units = config["units"]
        gates = {"LSTM": 4, "GRU": 3, "SimpleRNN": 1}.get(name)
        return gates * (inputs + units + 1) * units if gates else (inputs + 1) * units
    if "filters" in config and isinstance(config["filters"], int):  # every convolution
        return (size("kernel_size") * inputs + 1) * config["filters"] if "kernel_size" in config else 0
    if name == "Embedding":
        return int(config["input_dim"]) * int(config["output_dim"])
    if name in ("BatchNormalization", "LayerNormalization", "GroupNormalization"):
        return 4 * inputs
    return 0


def refuse_too_large(crossed: dict, models: list | None = None) -> None:
    """Raise ``Refused`` when the configuration declares more than the grader trains, read from the data before
    anything is built: a number above ``MAX_NUMBER``, an input of more than ``MAX_INPUT_VALUES`` values per example,
    or more than ``MAX_PARAMETERS`` weights in ``models`` (the answer's distinct models; default: ``crossed``)."""
    for layer in _layers(crossed):
        for key in ("batch_shape", "batch_input_shape"):
            shape = layer["config"].get(key)
            values = math.prod(d for d in shape[1:] if isinstance(d, int)) if isinstance(shape, (list, tuple)) else 0
            if values > MAX_INPUT_VALUES:
                raise Refused(f"its input {shape} holds more than {MAX_INPUT_VALUES:,} values per example")
    for key, number in _numbers(crossed):
        if abs(number) > MAX_NUMBER:
            raise Refused(f"its configuration asks for {key} = {number:,}; the grader takes numbers up to "
                          f"{MAX_NUMBER:,}")
    weights = sum(_weights(layer) for model in ([crossed] if models is None else models) for layer in _layers(model))
    if weights > MAX_PARAMETERS:
        raise Refused(f"its configuration declares about {weights:,} weights; the grader trains models of up to "
                      f"{MAX_PARAMETERS:,}")


def safe_model(model_config: dict, compile_config: dict):
    """A compiled model from its config, in safe mode, refused before it trains when it holds more weights than
    ``MAX_PARAMETERS`` or any layer's output more than ``MAX_INPUT_VALUES`` values per example (its shapes are
    symbolic until it trains: nothing of that size has been allocated yet)."""
    import keras

    # Keras consumes the config it deserialises: each build gets its own copy.
    model = keras.saving.deserialize_keras_object(copy.deepcopy(model_config), safe_mode=True)
    if not isinstance(model, keras.Model):
        raise Refused(f"the config describes a {type(model).__name__}, not a keras.Model")
    refuse_large_outputs(model)
    compile_from(model, compile_config)
    return model


def refuse_large_outputs(model) -> None:
    """Refuse a built model (not yet trained) of more than ``MAX_PARAMETERS`` weights or with a layer whose output
    holds more than ``MAX_INPUT_VALUES`` values per example."""
    if model.count_params() > MAX_PARAMETERS:
        raise AssertionError(f"the model has {model.count_params():,} parameters; the grader trains models of up "
                             f"to {MAX_PARAMETERS:,}")
    for layer in model._flatten_layers(include_self=False):
        try:
            shape = tuple(layer.output.shape)
        except (AttributeError, ValueError):  # a layer called more than once, or never: no single output
            continue
        if math.prod(d for d in shape[1:] if d) > MAX_INPUT_VALUES:
            raise Refused(f"its layer {layer.name} outputs {shape[1:]} values per example; the grader trains "
                          f"models whose layers output up to {MAX_INPUT_VALUES:,}")


def refuse_adapted(layers, name: str) -> None:
    """``TypeError`` for a ``Normalization`` layer whose statistics come from ``adapt()``: only its config crosses,
    and its config holds no statistics (rebuilt, it would normalise nothing)."""
    for layer in layers:
        if type(layer).__name__ == "Normalization" and layer.get_config().get("mean") is None:
            raise TypeError(f"{name} uses Normalization with statistics from adapt(): they do not cross to the "
                            "grader; give them as Normalization(mean=..., variance=...)")
