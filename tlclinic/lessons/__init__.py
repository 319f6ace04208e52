"""One module per lesson: the calls its notebook makes, so the notebook reads like prose.

Every lesson module has ``ANSWER`` (the function the student writes) and ``ANSWER_KIND`` ("head" or
"optimizer": what crosses to the verifier), ``check_converges(answer, seed)`` (the graded check, run by the
verifier), ``summary(result)`` (what a passing check reports), ``check(answer, seed)`` (the notebooks' check),
``calibrate(seeds)`` (its graded check over many seeds, with ``CALIBRATION_METRIC``
naming the metric) and ``demo()`` (its broken program and its fix, measured, for ``make demo``).
"""
import importlib
from types import ModuleType

# notebook folder under solutions/ and notebooks/ -> module of this package
LESSONS = {
    "01-softmax-one-unit": "softmax_one_unit",
    "02-relu-regression-output": "relu_regression_output",
    "03-learning-rate": "learning_rate",
}


def select(names: list[str], error) -> list[str]:
    """The lessons named (all of them when none is), or ``error(message)`` for a name that is no lesson."""
    if unknown := [name for name in names if name not in LESSONS]:
        error(f"unknown lesson(s) {', '.join(unknown)}; the lessons are: {', '.join(LESSONS)}")
    return list(names) or list(LESSONS)


def name_of(module_name: str) -> str:
    """The lesson (notebook name) of a lesson module, by the module's ``__name__``."""
    return next(lesson for lesson, module in LESSONS.items() if module_name.endswith(f".{module}"))


def load(lesson: str) -> ModuleType:
    """The module of a lesson, by its notebook's name."""
    if lesson not in LESSONS:
        raise KeyError(f"unknown lesson {lesson!r}; the lessons are: {', '.join(LESSONS)}")
    return importlib.import_module(f".{LESSONS[lesson]}", __name__)
