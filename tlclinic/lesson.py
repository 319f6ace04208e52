"""The Lesson interface: what every lesson defines, and what the base gives every lesson.

A lesson is a package under ``tlclinic/lessons/`` whose ``__init__.py`` begins with ``Lesson.adopt(__name__)``:
the module becomes a ``Lesson`` (Python lets a module's class be a subclass of ``types.ModuleType``), so a notebook
keeps writing ``from tlclinic.lessons import <folder> as lesson`` and ``lesson.train(...)``.  What the
module defines is the lesson's own; what it does not define comes from the base: the visible ``check``,
``calibrate``, ``prepare``, the graded tests read off its source notebook, its README row, and the optional parts'
defaults.  ``REQUIRED`` lists what the module must define; ``tlclinic.lessons.discover()`` refuses a lesson that
lacks any of it, naming the folder and the part.
"""
from __future__ import annotations

import ast
import functools
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Callable, NamedTuple

from . import calibration, verdict
from .crossing import Answer, as_data_and_back

if TYPE_CHECKING:
    from matplotlib.figure import Figure

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = ROOT / "solutions"  # the nbgrader source of each lesson: solutions/<NAME>/<NAME>.ipynb
RELEASES = ROOT / "notebooks"  # the student release, generated from the source by `make release`

# What every lesson module defines: part -> what it is.
REQUIRED = {
    "NAME": "the folder of its notebooks under solutions/ and notebooks/: 'NN-what-it-is-about'",
    "TITLE": "what the lesson is about, in a few words",
    "QUESTIONS": "the questions it comes from: numbers in the questions' folder ('000') or public question URLs",
    "DATA": "the datasets it trains on (names of tlclinic.data.RECIPES)",
    "ANSWER": "the kind of answer the student writes: a tlclinic.crossing.Answer naming the function",
    "FAILURE": "the failure, in one line of Markdown (the README's lesson table)",
    "CURE": "the fix, in one line of Markdown (the README's lesson table)",
    "CHECK": "what the graded check asks, in one sentence built from its thresholds (the notebook prints it)",
    "CALIBRATION_METRIC": "the name of what graded_metric measures, for the calibration tables",
    "train": "train(answer, seed=0, *, callbacks=(), kept=None, on_epoch=None, **options) -> the run: trains the "
             "answer as the check does (kept: the traced heads of calibration and of the verifier; on_epoch: the live "
             "controls' redraw)",
    "reproduce": "reproduce(seed=0) -> the question's program run as asked",
    "live": "live() -> a LiveView: the control whose every change retrains and redraws",
    "check_converges": "check_converges(answer, seed) -> the run: the graded check, run by the verifier; raises "
                       "AssertionError saying why the answer fails",
    "summary": "summary(run) -> str: what a passing check reports",
    "assert_converged": "assert_converged(run): the graded assertions on a trained run",
    "graded_metric": "graded_metric(run) -> float: what the check thresholds (calibration reports it)",
    "calibration_answers": "calibration_answers() -> name -> (answer, should pass; None: only measured): the public "
                           "family of valid, half and broken answers the check is calibrated on",
    "demo": "demo() -> Demo: the broken program and its fix, measured, for make demo",
    "doctor_cases": "doctor_cases() -> name -> (seed -> the doctor's Report, the kinds it must name): broken and "
                    "fixed programs",
}


class LessonIncomplete(RuntimeError):
    """A lesson folder lacks a part of the interface."""


class GradedTest(NamedTuple):
    """One graded cell of a lesson's source notebook: its points and the seed its check trains at."""

    points: float
    seed: int


class Lesson(ModuleType):
    """A lesson: a module that defines ``REQUIRED``; the methods below are the defaults it does not override.

    Module attributes come before these defaults (they are plain functions on the class), so a lesson overrides a
    default by defining a function of the same name, without ``self``; ``folder``, a property, is not overridden.
    """

    # The optional parts, with their defaults.
    BROWSER_CHOICES: tuple = ()  # what `make bench` and the browser test click in the live control, in order
    CALIBRATION_ALSO: str = ""  # the name of a second metric the calibration tables show (also_metric)
    also_metric: Callable | None = None  # also_metric(run) -> float, when CALIBRATION_ALSO names it

    NAME: str
    TITLE: str
    QUESTIONS: tuple[str, ...]
    DATA: tuple[str, ...]
    ANSWER: Answer
    FAILURE: str
    CURE: str
    CHECK: str
    CALIBRATION_METRIC: str

    @classmethod
    def adopt(cls, module_name: str) -> None:
        """Make the module ``module_name`` (a lesson's ``__init__``, passing ``__name__``) a ``Lesson``."""
        sys.modules[module_name].__class__ = cls

    def missing(self) -> list[str]:
        """The parts of ``REQUIRED`` this lesson does not define (functions must be callable)."""
        defined = vars(self)
        return [part for part in REQUIRED if part not in defined
                or (part[0].islower() and not callable(defined[part]))]

    @property
    def folder(self) -> Path:
        """The lesson's folder under ``tlclinic/lessons/``."""
        return Path(self.__file__).parent

    # ---- the notebook's check, and the grader's tests --------------------------------------------------------

    def check(self, answer: Callable, seed: int = 0) -> None:
        """The notebook's check: ``answer`` crosses to a fresh process as data (``ANSWER``) and is judged there by
        ``check_converges``; prints the verdict, raises ``AssertionError`` saying why when it fails."""
        verdict.check(self, answer, seed)

    def graded_tests(self) -> dict[str, GradedTest]:
        """grade_id -> (points, seed) of each graded cell of the source notebook: the points its nbgrader
        metadata gives, the seed its ``check(..., seed=N)`` call names (0 when it names none)."""
        return graded_tests(source_notebook(self.NAME))

    def prepare(self) -> None:
        """Compute and store what ``check_converges`` reads from disk (by default the datasets of ``DATA``), so
        that the grader's verifier can run read-only."""
        from . import data

        for name in self.DATA:
            data.ensure(name)

    # ---- calibration -----------------------------------------------------------------------------------------

    def calibrate(self, seeds=range(20)) -> list[calibration.Calibration]:
        """Each answer of ``calibration_answers()`` through the graded check at each seed, as the verifier
        receives it (crossed to data and rebuilt)."""
        family = self.calibration_answers()
        trains = {name: functools.partial(self.train, as_data_and_back(self.ANSWER, answer))
                  for name, (answer, _) in family.items()}
        return calibration.calibrate(trains, {name: ok for name, (_, ok) in family.items()}, self.assert_converged,
                                     self.graded_metric, seeds, also=self.also_metric)

    def how_often_wrong(self) -> str:
        """How the check was calibrated and how often, at most, it is wrong (the notebook prints it after
        ``CHECK``), from the tables committed in the lesson's folder."""
        return calibration.how_often_wrong(self)

    def readme_row(self) -> str:
        """The README's calibration row of this lesson, from the tables committed in its folder."""
        return calibration.readme_row(self)


def graded_tests(notebook_path: Path) -> dict[str, GradedTest]:
    """grade_id -> (points, seed) of each graded cell of an nbgrader source notebook (see ``Lesson.graded_tests``)."""
    from .notebooks import cells

    tests = {}
    for cell in cells(notebook_path):
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade"):
            tests[meta["grade_id"]] = GradedTest(float(meta.get("points", 0)), seed_called(cell.source))
    return tests


def seed_called(source: str) -> int:
    """The ``seed=N`` of the ``check(...)`` call in a test cell's code (0 when the call names none)."""
    code = "\n".join(line for line in source.splitlines() if not line.lstrip().startswith("###"))
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) == "check":
            for keyword in node.keywords:
                if keyword.arg == "seed" and isinstance(keyword.value, ast.Constant):
                    return int(keyword.value.value)
    return 0


def source_notebook(name: str) -> Path:
    return SOLUTIONS / name / f"{name}.ipynb"


def release_notebook(name: str) -> Path:
    return RELEASES / name / f"{name}.ipynb"


# ---- what lessons build their parts from --------------------------------------------------------------------

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


def converges(assert_converged: Callable, run: Any) -> tuple[bool, str]:
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
    from . import doctor

    fitted = targets_for or (lambda model, y: y)
    watcher = doctor.Doctor(val_set[0], None)
    run = train(callbacks=[watcher])
    static = doctor.diagnose(run.model, train_set[0], fitted(run.model, train_set[1]))
    return run, doctor.merged(static.findings, watcher.findings)
