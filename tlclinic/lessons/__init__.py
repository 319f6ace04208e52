"""The lessons: one folder each under ``tlclinic/lessons/``, found by ``discover()``, and the interface they share.

A lesson folder is a Python package holding everything only that lesson uses (its heads, symptoms, figures,
calibration tables).  Its ``NAME`` is the folder of its nbgrader source, ``solutions/<NAME>/<NAME>.ipynb``, and
of its student release under ``notebooks/``.  ``discover()`` is the one list of lessons: the demo, the
calibration, the benchmark, the grader, the release and the tests all take it from here.  Adding a lesson is
adding its folder and its source notebook (CONTRIBUTING.md says how).
"""
from __future__ import annotations

import functools
import importlib
import pkgutil
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from matplotlib.figure import Figure

ROOT = Path(__file__).resolve().parent.parent.parent
SOLUTIONS = ROOT / "solutions"  # the nbgrader source of each lesson: solutions/<NAME>/<NAME>.ipynb
RELEASES = ROOT / "notebooks"  # the student release, generated from the source by `make release`

# What every lesson module defines: name -> what it is.
PARTS = {
    "NAME": "the folder of its notebooks under solutions/ and notebooks/: 'NN-what-it-is-about'",
    "TITLE": "what the lesson is about, in a few words",
    "QUESTIONS": "the questions it comes from, by their number in the questions' folder, e.g. ('000',)",
    "DATA": "the datasets it trains on (names of tlclinic.data.RECIPES)",
    "ANSWER": "the name of the function the student writes",
    "ANSWER_KIND": "what crosses to the verifier: 'head' (a compiled model), 'optimizer' or 'pipeline' (a model "
                   "around the backbone and its fine_tune step)",
    "CHECK": "what the graded check asks, in one sentence built from its thresholds (the notebook prints it)",
    "CALIBRATION_METRIC": "the metric calibrate() reports",
    "train": "train(...) -> Run: trains the answer (a head on the lesson's cached features; lesson 04 a pipeline)",
    "reproduce": "reproduce(seed=0) -> the question's program run as asked",
    "live": "live() -> a LiveView: the control whose every change retrains and redraws",
    "check_converges": "check_converges(answer, seed) -> the graded check, run by the verifier",
    "prepare": "prepare() -> None: computes and stores what check_converges reads from disk (datasets, feature "
               "caches), so that the grader's verifier can run read-only",
    "check": "check(answer, seed=0): the notebook's check, judged in a fresh process",
    "summary": "summary(result) -> str: what a passing check reports",
    "calibrate": "calibrate(seeds) -> list of Calibration rows: the check over a public family of answers",
    "demo": "demo() -> Demo: the broken program and its fix, measured, for make demo",
    "doctor_cases": "doctor_cases() -> name -> (seed -> the doctor's Report, the kinds it must name): broken and fixed",
}


class LessonIncomplete(RuntimeError):
    """A lesson folder lacks a part of the interface."""


def missing_parts(module: ModuleType) -> list[str]:
    """The parts of ``PARTS`` that a lesson module lacks (callables must be callable)."""
    return [part for part in PARTS if not hasattr(module, part)
            or (part[0].islower() and not callable(getattr(module, part)))]


@functools.cache
def _discovered() -> tuple[ModuleType, ...]:
    modules = [importlib.import_module(f"{__name__}.{info.name}") for info in pkgutil.iter_modules(__path__)
               if info.ispkg]
    for module in modules:
        if missing := missing_parts(module):
            raise LessonIncomplete(f"the lesson folder {Path(module.__file__).parent.name} lacks "
                                   + ", ".join(f"{part} ({PARTS[part]})" for part in missing))
    return tuple(sorted(modules, key=lambda m: m.NAME))


def discover() -> dict[str, ModuleType]:
    """Every lesson, by name, in order: each folder under ``tlclinic/lessons/`` that holds a package.

    Raises ``LessonIncomplete`` naming the folder and the parts it lacks.  Its notebooks are not looked for here
    (the grader's sandbox hides ``solutions/``); ``tests/test_lessons.py`` checks that every lesson has them.
    """
    return {module.NAME: module for module in _discovered()}


def names() -> list[str]:
    return list(discover())


def load(name: str) -> ModuleType:
    """The module of a lesson, by its name."""
    lessons = discover()
    if name not in lessons:
        raise KeyError(f"unknown lesson {name!r}; the lessons are: {', '.join(lessons)}")
    return lessons[name]


def select(wanted: list[str], error) -> list[str]:
    """The lessons named (all of them when none is), or ``error(message)`` for a name that is no lesson."""
    lessons = names()
    if unknown := [name for name in wanted if name not in lessons]:
        error(f"unknown lesson(s) {', '.join(unknown)}; the lessons are: {', '.join(lessons)}")
    return list(wanted) or lessons


def source_notebook(name: str) -> Path:
    return SOLUTIONS / name / f"{name}.ipynb"


def release_notebook(name: str) -> Path:
    return RELEASES / name / f"{name}.ipynb"


# ---- what a lesson's demo() returns --------------------------------------------------------------------------

@dataclass
class Demo:
    """One lesson's broken program and fix, run and measured."""

    symptom: str  # the numbers read off the broken program
    fix: str
    metric: str  # what the fix reached
    reproduced: bool  # the broken program shows the lesson's symptom
    converged: bool  # the fix passes the lesson's graded check
    reason: str = ""  # why not, when either is False
    figures: dict[str, "Figure"] = field(default_factory=dict)  # name -> figure, written as <lesson>-<name>.png

    @property
    def ok(self) -> bool:
        return self.reproduced and self.converged


def demo(symptom: str, fix: str, metric: str, reproduced: bool, not_reproduced: str,
         converged: tuple[bool, str], figures: dict[str, Figure]) -> Demo:
    """A ``Demo`` whose reason says what went wrong: the symptom that was not seen, the check the fix failed."""
    reasons = ([] if reproduced else [f"the symptom was not reproduced: {not_reproduced}"]) + (
        [] if converged[0] else [converged[1]])
    return Demo(symptom, fix, metric, reproduced, converged[0], "; ".join(reasons), figures)


def converges(assert_converged: Callable, run) -> tuple[bool, str]:
    """(passed, why not) of a lesson's graded assertions on a run."""
    try:
        assert_converged(run)
    except AssertionError as error:
        return False, f"the fix did not converge: {error}"
    return True, ""


def output_doctor_cases(outputs, broken: str, kind: str, examine_output: Callable) -> dict[str, tuple]:
    """``doctor_cases()`` of a lesson whose programs are one head with each of its ``outputs``: the doctor must
    name ``kind`` on the ``broken`` one and nothing on the others (``examine_output(output, seed)``)."""
    return {output: (lambda seed, output=output: examine_output(output, seed)[1],
                     {kind} if output == broken else set()) for output in outputs}


def examine_training(train: Callable, train_set: tuple, val_set: tuple, targets_for: Callable | None = None):
    """``train(callbacks=[doctor])`` with ``tlclinic.doctor`` watching on the validation set, then what it reads
    off the trained model (``targets_for(model, y)``: the targets as the model is fitted on them): the run and
    the doctor's report."""
    from .. import doctor

    fitted = targets_for or (lambda model, y: y)
    watcher = doctor.Doctor(val_set[0], None)
    run = train(callbacks=[watcher])
    static = doctor.diagnose(run.model, train_set[0], fitted(run.model, train_set[1]))
    return run, doctor.merged(static.findings, watcher.findings)
