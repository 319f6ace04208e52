"""The verdict on a student's answer, reached in a process where no student code has run.

A student's answer is a function in the notebook: ``build_head`` (lessons 01 and 02), ``make_optimizer``
(lesson 03) or ``build_pipeline`` (lesson 04: the model, and how it is prepared for fine-tuning).  It crosses to
the verifier as data, never as code:

* ``cross`` runs on the student's side (their kernel, or the grader's sandbox): it calls the answer once and
  turns what it returned into JSON, the Keras config of the compiled head or of the optimizer (for a pipeline,
  the model's config before and after its ``fine_tune``, which differ only in which layers train);
* ``judge`` runs here, in a fresh process: it refuses any config that names something outside Keras (a
  ``Lambda``, a custom class, a module of the student's), rebuilds the head or optimizer from the config in
  Keras's safe mode, trains it from fresh weights on the cached features, and applies the lesson's check.

Patching the package, Keras, NumPy, builtins or IPython in the notebook changes nothing here: whatever the
student's code did, only the config arrives, and the config is what is trained and judged.

    python -m tlclinic.verdict REQUESTS.json RESULTS.jsonl

reads a list of ``{"lesson": ..., "answer": <crossed data>, "tests": {grade_id: seed}}`` and writes a line of
``{grade_id: {"passed": bool, "message": str, "seed": int, "seconds": float}}`` per request.  ``check`` (what the notebooks call)
and the grader both run it.
"""
from __future__ import annotations

import contextlib
import copy
import json
import math
import sys
import time
from typing import Any

from . import jail

# grade_id of a lesson's test cell -> the seed its check trains under.  The visible check uses seed 0; the hidden
# test repeats it at another seed (calibration covers both).
GRADED_SEEDS = {"self_check": 0, "converges": 1}
MAX_PARAMETERS = 5_000_000  # the questions' heads have 0.3 to 0.8 million; bounds the verifier's work
MAX_NUMBER = 1_000_000  # no whole number in a crossed layer's config is larger (units, filters, sizes, dimensions)
MAX_INPUT_VALUES = 2**18  # values per example of any input or layer output (lesson 04's largest: 27,648)
REFUSED_CLASSES = {"Lambda", "TorchModuleWrapper", "JaxLayer", "FlaxLayer", "TFSMLayer"}
PLAIN_VALUES = {"__keras_tensor__", "__tensor__", "__numpy__", "__bytes__", "__ellipsis__", "__slice__"}  # data


# The verifier's memory: every lesson's solution is judged within 1.75 GiB (lesson 04's pipeline, the heaviest,
# measured); a configuration that needs more than this was made to (``verify_many`` gives it 0).
LIMITS = jail.Limits(memory=3 * 2**30)
MEMORY = "memory: "  # the start of a verifier failure that was its running out of memory


class Refused(Exception):
    """The crossed answer is not plain Keras configuration."""


# ---- the student's side ------------------------------------------------------------------------------------

def cross(lesson: str, answer: Any) -> dict:
    """The student's answer as JSON data: call it and serialise what it returned (runs on the student's side)."""
    import keras

    from .lessons import load

    kind = load(lesson).ANSWER_KIND
    if not callable(answer):
        raise TypeError(f"the answer should be a function, not {type(answer).__name__}")
    if kind == "head":
        from .backbone import MINI_INCEPTION_FEATURES

        model = answer(MINI_INCEPTION_FEATURES)
        if not isinstance(model, keras.Model):
            raise TypeError(f"build_head should return a keras.Model, not {type(model).__name__}")
        compile_config = model.get_compile_config()
        if not compile_config:
            raise TypeError("build_head should return a compiled model: call model.compile(...) before returning it")
        return {"kind": kind, "model": keras.saving.serialize_keras_object(model), "compile": compile_config}
    if kind == "pipeline":
        return _cross_pipeline(answer)
    first, second = answer(), answer()
    if not isinstance(first, keras.optimizers.Optimizer):
        raise TypeError(f"make_optimizer should return a Keras optimizer, not {type(first).__name__}")
    return {"kind": kind, "optimizer": keras.optimizers.serialize(first), "new_each_call": first is not second}


def _cross_pipeline(build_pipeline: Any) -> dict:
    """``build_pipeline(backbone) -> (model, fine_tune)`` as data: the model's config and compile config as built,
    and again after ``fine_tune()`` (which layers train, and the second stage's optimizer)."""
    import keras

    from .backbone import build_mini_inception

    built = build_pipeline(build_mini_inception())
    if not (isinstance(built, tuple) and len(built) == 2 and isinstance(built[0], keras.Model) and callable(built[1])):
        raise TypeError("build_pipeline should return (model, fine_tune): a compiled keras.Model and a function of "
                        f"no arguments that prepares it for fine-tuning, not {type(built).__name__}")
    model, fine_tune = built
    if not model.get_compile_config():
        raise TypeError("build_pipeline should return a compiled model: call model.compile(...) before returning it")
    crossed = {"kind": "pipeline", "model": keras.saving.serialize_keras_object(model),
               "compile": model.get_compile_config()}
    fine_tune()
    return {**crossed, "tuned": keras.saving.serialize_keras_object(model), "tuned_compile": model.get_compile_config()}


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


# ---- the verifier's side -----------------------------------------------------------------------------------

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
            if str(config["module"]).startswith("keras.layers") or config["class_name"] in ("Functional", "Sequential"):
                yield config
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


def refuse_too_large(crossed: dict) -> None:
    """Raise ``Refused`` when the configuration declares more than the grader trains, read from the data before
    anything is built: a number above ``MAX_NUMBER``, an input of more than ``MAX_INPUT_VALUES`` values per example,
    or more than ``MAX_PARAMETERS`` weights."""
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
    models = [crossed[key] for key in ("model", "tuned") if key in crossed][:1]  # a pipeline's two forms: count one
    weights = sum(_weights(layer) for model in models for layer in _layers(model))
    if weights > MAX_PARAMETERS:
        raise Refused(f"its configuration declares about {weights:,} weights; the grader trains models of up to "
                      f"{MAX_PARAMETERS:,}")


def rebuild(crossed: dict):
    """The answer as a function again, built from its data only: a head builder or an optimizer factory."""
    import keras

    refuse_unsafe(crossed)
    refuse_too_large(crossed)
    if crossed.get("kind") == "head":
        model_config, compile_config = crossed["model"], crossed["compile"]

        def build_head(input_dim: int) -> keras.Model:
            return _model(model_config, compile_config)

        return build_head
    if crossed.get("kind") == "pipeline":
        return _rebuild_pipeline(crossed)
    if crossed.get("kind") == "optimizer":
        if not crossed.get("new_each_call", True):
            raise AssertionError("make_optimizer returned the same optimizer twice: it should make a new one on "
                                 "every call (each head needs its own)")
        optimizer_config = crossed["optimizer"]
        return lambda: keras.optimizers.deserialize(copy.deepcopy(optimizer_config))
    raise Refused(f"unknown kind of answer: {crossed.get('kind')!r}")


def _rebuild_pipeline(crossed: dict):
    """``build_pipeline`` again from its data: the model from its config, ``fine_tune`` as the trainable flags and
    compile config it left (the backbone it is given is not used: the model's config holds its own)."""
    if _without_trainable(crossed["model"]) != _without_trainable(crossed["tuned"]):
        raise Refused("fine_tune changed the model itself: it should only choose which layers train and compile")
    flags = _trainable_flags(crossed["tuned"])

    def build_pipeline(backbone):
        model = _model(crossed["model"], crossed["compile"])

        def fine_tune():
            _set_trainable(model, flags)
            model.compile_from_config(copy.deepcopy(crossed["tuned_compile"]))

        return model, fine_tune

    return build_pipeline


def _model(model_config: dict, compile_config: dict):
    """A compiled model from its config, in safe mode, refused before it trains when it holds more weights than
    ``MAX_PARAMETERS`` or any layer's output more than ``MAX_INPUT_VALUES`` values per example (its shapes are
    symbolic until it trains: nothing of that size has been allocated yet)."""
    import keras

    # Keras consumes the config it deserialises: each build gets its own copy.
    model = keras.saving.deserialize_keras_object(copy.deepcopy(model_config), safe_mode=True)
    if not isinstance(model, keras.Model):
        raise Refused(f"the config describes a {type(model).__name__}, not a keras.Model")
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
    model.compile_from_config(copy.deepcopy(compile_config))
    return model


def as_data_and_back(lesson: str, answer: Any):
    """``answer`` as the verifier receives it: crossed to data and rebuilt (calibration trains what grading does)."""
    return rebuild(json.loads(json.dumps(cross(lesson, answer))))


def judge(lesson: str, crossed: dict, seed: int) -> tuple[bool, str]:
    """(passed, message) of the lesson's check on the crossed answer at ``seed``; runs only trusted code."""
    from .console import gist, quiet
    from .lessons import load

    module = load(lesson)
    try:
        with quiet():
            answer = rebuild(crossed)
        result = module.check_converges(answer, seed)
    except Refused as error:
        return False, f"your answer could not be graded: {error}"
    except AssertionError as error:
        return False, str(error)
    except Exception as error:  # a config Keras cannot rebuild: report it like a failed check
        return False, f"your answer could not be rebuilt from its config: {type(error).__name__}: {gist(error)}"
    return True, module.summary(result)


def main(inside) -> int:
    """Judge each request read from stdin in turn, sending one line of verdicts per request on the result pipe."""
    from .console import silenced_native_stderr

    requests = json.loads(sys.stdin.buffer.read())
    with silenced_native_stderr():
        import keras  # noqa: F401  (TensorFlow's start-up lines go nowhere)
    for request in requests:
        verdicts = {}
        for test, seed in request["tests"].items():
            start = time.perf_counter()
            passed, message = judge(request["lesson"], request["answer"], int(seed))
            verdicts[test] = {"passed": passed, "message": message, "seed": int(seed),
                              "seconds": time.perf_counter() - start}
        inside.send(verdicts)
    return 0


def _run_verifier(requests: list[dict], timeout: float, sandboxed: bool = False) -> tuple[list[dict | None], str]:
    """One verifier process over ``requests``: their verdicts (None for any it did not finish), and why not
    (``MEMORY``-prefixed when it ran out of the memory ``LIMITS`` gives it)."""
    finished = jail.run("tlclinic.verdict", [], json.dumps(requests).encode(), timeout, LIMITS, [], sandboxed)
    found = [json.loads(line) for line in finished.result.decode().splitlines() if line.strip()][:len(requests)]
    why = ""
    if finished.timed_out:
        why = f"the verifier did not finish within {timeout:.0f} s"
    elif len(found) < len(requests):
        lines = [line for line in finished.log.splitlines() if line.strip()]
        memory = any(sign in finished.log for sign in jail.MEMORY_SIGNS)
        why = (MEMORY if memory else "") + f"the verifier failed (exit {finished.returncode}): " + (
            lines[-1][:200] if lines else "no output")
    return found + [None] * (len(requests) - len(found)), why


def verify_many(requests: list[dict], timeout: float, sandboxed: bool = False) -> list[dict | str]:
    """Each request ``{"lesson", "answer", "tests": {grade_id: seed}}`` -> grade_id -> verdict, or a string saying
    why the machine could not judge it.

    One fresh process judges them in turn (``timeout`` seconds each, summed), so Keras is imported once for many
    answers; any request it did not finish is tried again alone with twice the time.  An answer that makes the
    verifier run out of its memory alone, twice, fails every test: its configuration asked for more than the
    grader gives any answer (the memory of every valid answer is well inside ``LIMITS``).
    """
    results: list[dict | str | None] = list(_run_verifier(requests, timeout * len(requests), sandboxed)[0])
    for index, found in enumerate(results):
        if found is None:
            again, why = _run_verifier([requests[index]], 2 * timeout, sandboxed)
            results[index] = again[0] if again[0] is not None else why
            if why.startswith(MEMORY):
                message = (f"your answer could not be graded: training it needs more than the "
                           f"{LIMITS.memory // 2**30} GiB of memory the grader gives an answer")
                results[index] = {test: {"passed": False, "message": message, "seed": int(seed), "seconds": 0.0}
                                  for test, seed in requests[index]["tests"].items()}
    return results


def verify(lesson: str, crossed: dict, tests: dict[str, int], timeout: float | None = None) -> dict:
    """grade_id -> {"passed", "message", "seed"} for one crossed answer, judged in a fresh process.

    Raises ``RuntimeError`` when the verifier failed or ran past ``timeout``.
    """
    [found], why = _run_verifier([{"lesson": lesson, "answer": crossed, "tests": tests}], timeout or 600)
    if found is None:
        raise RuntimeError(why)
    return found


def check(lesson: str, answer: Any, seed: int = 0) -> None:
    """The notebooks' convergence check: the answer crosses to a fresh process as data and is judged there.

    Prints the verdict; raises ``AssertionError`` with the reason when the answer does not converge.  What the
    answer prints to stderr while it is called is shown on stdout (a test cell with stderr output fails).
    """
    with contextlib.redirect_stderr(sys.stdout):
        try:
            crossed = cross(lesson, answer)
        except Exception as error:  # the student's function raised: say so, as the grader does
            raise AssertionError(f"calling your answer failed: {type(error).__name__}: {error}") from None
    verdict = verify(lesson, crossed, {"check": seed})["check"]
    if not verdict["passed"]:
        raise AssertionError(verdict["message"])
    print(f"passed (seed {seed}, judged in a fresh process): {verdict['message']}")


if __name__ == "__main__":
    jail.exit_now(main(jail.enter(sys.argv[1:])))
