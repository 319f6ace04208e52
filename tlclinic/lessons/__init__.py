"""The lessons: one folder each under ``tlclinic/lessons/``, found by ``discover()``.

A lesson folder is a Python package holding everything only that lesson uses (its heads, symptoms, figures,
calibration tables); its ``__init__.py`` is a ``tlclinic.lesson.Lesson`` (the interface, and what every lesson
gets from it).  Its ``NAME`` is the folder of its nbgrader source, ``solutions/<NAME>/<NAME>.ipynb``, and of its
student release under ``notebooks/``.  ``discover()`` is the one list of lessons: the demo, the calibration, the
benchmark, the grader, the release and the tests all take it from here.  Adding a lesson is adding its folder and
its source notebook (``python -m tlclinic.commands.new_lesson`` writes both; CONTRIBUTING.md says more).
"""
from __future__ import annotations

import functools
import importlib
import pkgutil
from pathlib import Path

from ..lesson import (REQUIRED, RELEASES, ROOT, SOLUTIONS, Lesson, LessonIncomplete, release_notebook,  # noqa: F401
                      source_notebook)


ADOPT = "the first statement after its imports, which makes the module a Lesson"


def missing_parts(module) -> list[str]:
    """The parts of ``REQUIRED`` that a lesson module lacks; all of them when it is no ``Lesson``."""
    return module.missing() if isinstance(module, Lesson) else ["Lesson.adopt(__name__)", *REQUIRED]


@functools.cache
def _discovered() -> tuple[Lesson, ...]:
    modules = [importlib.import_module(f"{__name__}.{info.name}") for info in pkgutil.iter_modules(__path__)
               if info.ispkg]
    for module in modules:
        if missing := missing_parts(module):
            raise LessonIncomplete(f"the lesson folder {Path(module.__file__).parent.name} lacks "
                                   + ", ".join(f"{part} ({REQUIRED.get(part, ADOPT)})" for part in missing))
    return tuple(sorted(modules, key=lambda m: m.NAME))


def discover() -> dict[str, Lesson]:
    """Every lesson, by name, in order: each folder under ``tlclinic/lessons/`` that holds a package.

    Raises ``LessonIncomplete`` naming the folder and the parts it lacks.  Its notebooks are not looked for here
    (the grader's sandbox hides ``solutions/``); ``tests/test_lessons.py`` checks that every lesson has them.
    """
    return {module.NAME: module for module in _discovered()}


def names() -> list[str]:
    return list(discover())


def load(name: str) -> Lesson:
    """A lesson, by its name."""
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
