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
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# grade_id of a lesson's test cell -> the seed its check trains under.  The visible check uses seed 0; the hidden
# test repeats it at another seed (calibration covers both).
GRADED_SEEDS = {"self_check": 0, "converges": 1}
MAX_PARAMETERS = 5_000_000  # the questions' heads have 0.3 to 0.8 million; bounds the verifier's work
REFUSED_CLASSES = {"Lambda", "TorchModuleWrapper", "JaxLayer", "FlaxLayer", "TFSMLayer"}
PLAIN_VALUES = {"__keras_tensor__", "__tensor__", "__numpy__", "__bytes__", "__ellipsis__", "__slice__"}  # data


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


def rebuild(crossed: dict):
    """The answer as a function again, built from its data only: a head builder or an optimizer factory."""
    import keras

    refuse_unsafe(crossed)
    if crossed.get("kind") == "head":
        model_config, compile_config = crossed["model"], crossed["compile"]

        def build_head(input_dim: int) -> keras.Model:
            # Keras consumes the config it deserialises: each build gets its own copy.
            model = keras.saving.deserialize_keras_object(copy.deepcopy(model_config), safe_mode=True)
            if not isinstance(model, keras.Model):
                raise Refused(f"the config describes a {type(model).__name__}, not a keras.Model")
            if model.count_params() > MAX_PARAMETERS:
                raise AssertionError(f"the head has {model.count_params():,} parameters; the grader trains heads of "
                                     f"up to {MAX_PARAMETERS:,} (the question's has about 750,000)")
            model.compile_from_config(copy.deepcopy(compile_config))
            return model

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
    import keras

    if _without_trainable(crossed["model"]) != _without_trainable(crossed["tuned"]):
        raise Refused("fine_tune changed the model itself: it should only choose which layers train and compile")
    flags = _trainable_flags(crossed["tuned"])

    def build_pipeline(backbone):
        model = keras.saving.deserialize_keras_object(copy.deepcopy(crossed["model"]), safe_mode=True)
        if not isinstance(model, keras.Model):
            raise Refused(f"the config describes a {type(model).__name__}, not a keras.Model")
        if model.count_params() > MAX_PARAMETERS:
            raise AssertionError(f"the model has {model.count_params():,} parameters; the grader trains models of "
                                 f"up to {MAX_PARAMETERS:,}")
        model.compile_from_config(copy.deepcopy(crossed["compile"]))

        def fine_tune():
            _set_trainable(model, flags)
            model.compile_from_config(copy.deepcopy(crossed["tuned_compile"]))

        return model, fine_tune

    return build_pipeline


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


def main(argv: list[str] | None = None) -> int:
    """Judge each request of REQUEST.json in turn, appending one line of verdicts per request to RESULT.json."""
    from .console import silenced_native_stderr

    request_path, result_path = (argv if argv is not None else sys.argv[1:])
    requests = json.loads(Path(request_path).read_text())
    with silenced_native_stderr():
        import keras  # noqa: F401  (TensorFlow's start-up lines go nowhere)
    with open(result_path, "a") as results:
        for request in requests:
            verdicts = {}
            for test, seed in request["tests"].items():
                start = time.perf_counter()
                passed, message = judge(request["lesson"], request["answer"], int(seed))
                verdicts[test] = {"passed": passed, "message": message, "seed": int(seed),
                                  "seconds": time.perf_counter() - start}
            results.write(json.dumps(verdicts) + "\n")
            results.flush()
    return 0


def _run_verifier(requests: list[dict], timeout: float) -> tuple[list[dict | None], str]:
    """One verifier process over ``requests``: their verdicts (None for any it did not finish), and why not."""
    with tempfile.TemporaryDirectory(prefix="tlclinic-verdict-") as tmp:
        request, result = Path(tmp) / "requests.json", Path(tmp) / "results.jsonl"
        request.write_text(json.dumps(requests))
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "TQDM_DISABLE": "1"}
        why = ""
        try:
            done = subprocess.run([sys.executable, "-m", "tlclinic.verdict", str(request), str(result)], env=env,
                                  capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
            if done.returncode:
                lines = [line for line in done.stderr.splitlines() if line.strip()]
                why = f"the verifier failed (exit {done.returncode}): {lines[-1] if lines else 'no output'}"
        except subprocess.TimeoutExpired:
            why = f"the verifier did not finish within {timeout:.0f} s"
        finished = [json.loads(line) for line in result.read_text().splitlines()] if result.exists() else []
    return finished + [None] * (len(requests) - len(finished)), why


def verify_many(requests: list[dict], timeout: float) -> list[dict | str]:
    """Each request ``{"lesson", "answer", "tests": {grade_id: seed}}`` -> grade_id -> verdict, or a string saying
    why the machine could not judge it.

    One fresh process judges them in turn (``timeout`` seconds each, summed), so Keras is imported once for many
    answers; any request it did not finish is tried again alone with twice the time.
    """
    results: list[dict | str | None] = list(_run_verifier(requests, timeout * len(requests))[0])
    for index, found in enumerate(results):
        if found is None:
            again, why = _run_verifier([requests[index]], 2 * timeout)
            results[index] = again[0] if again[0] is not None else why
    return results


def verify(lesson: str, crossed: dict, tests: dict[str, int], timeout: float | None = None) -> dict:
    """grade_id -> {"passed", "message", "seed"} for one crossed answer, judged in a fresh process.

    Raises ``RuntimeError`` when the verifier failed or ran past ``timeout``.
    """
    [found], why = _run_verifier([{"lesson": lesson, "answer": crossed, "tests": tests}], timeout)
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
    from .sandbox import exit_now

    exit_now(main())
