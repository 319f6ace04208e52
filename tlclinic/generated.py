"""The README's generated parts, each between ``<!-- generated: NAME -->`` and ``<!-- end generated: NAME -->``.

``PARTS`` names each part and the command that writes it; nobody edits them by hand.  ``lesson_rows`` and
``calibration_rows`` are computed from the lessons and their committed tables (``python -m tlclinic.commands.readme``
writes them, and so does every command that changes what they read: a calibration, a new lesson); the doctor's
table of the lessons' programs is written by the catalogue's command, which trains them.
"""
from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"

PARTS = {
    "lessons": "python -m tlclinic.commands.readme (each lesson's TITLE, QUESTIONS, FAILURE and CURE)",
    "calibration": "python -m tlclinic.commands.readme (the tables in each lesson's calibration/ folder; "
                   "python -m tlclinic.commands.calibrate --write rewrites them too)",
    "doctor-lessons": "python -m tlclinic.commands.catalogue --lessons --seeds 5 --write",
    "doctor-catalogue": "python -m tlclinic.commands.catalogue --seeds 5 --write",
    "performance": "python bench/run.py --write (make bench ARGS=--write): each step's latest measure, kept in "
                   "bench/measured.json with its machine and date",
}


def _pattern(name: str) -> re.Pattern:
    return re.compile(rf"(<!-- generated: {re.escape(name)} -->\n)(.*?)(<!-- end generated: {re.escape(name)} -->)",
                      re.DOTALL)


def read(name: str, path: Path = README) -> str:
    """The text of the generated part ``name`` (without its markers)."""
    found = _pattern(name).search(path.read_text())
    if found is None:
        raise KeyError(f"{path.name} has no generated part {name!r} (<!-- generated: {name} --> ... "
                       f"<!-- end generated: {name} -->)")
    return found.group(2)


def write(name: str, text: str, path: Path = README) -> bool:
    """Replace the generated part ``name`` with ``text``; whether anything changed."""
    read(name, path)
    before = path.read_text()
    after = _pattern(name).sub(lambda m: m.group(1) + text.rstrip("\n") + "\n" + m.group(3), before)
    path.write_text(after)
    return after != before


def questions_text(questions) -> str:
    """A lesson's ``QUESTIONS`` in words: 'question 000' for a numbered one, a link for a public one (named
    ``owner/repository#N`` for a GitHub issue, by its number for a Stack Overflow question)."""
    def named(url: str) -> str:
        parts = url.rstrip("/").split("/")
        if "github.com" in url and "issues" in parts:
            at = parts.index("issues")
            return f"{parts[at - 2]}/{parts[at - 1]}#{parts[at + 1]}"
        return f"Stack Overflow {parts[parts.index('questions') + 1]}" if "questions" in parts else url

    return ", ".join(f"[{named(q)}]({q})" if "://" in q else f"question {q}" for q in questions)


def lesson_rows(lessons) -> str:
    """The README's lesson table, from each lesson's parts."""
    lines = ["| lesson | from | the failure | the fix |", "|---|---|---|---|"]
    lines += [f"| {lesson.NAME[:2]} {lesson.TITLE} | {questions_text(lesson.QUESTIONS)} | {lesson.FAILURE} | "
              f"{lesson.CURE} |" for lesson in lessons]
    return "\n".join(lines)


def calibration_rows(lessons) -> str:
    """The README's calibration table, one row per lesson, from the tables committed in the lessons' folders."""
    from .calibration import CONFIDENCE

    wrong = f"wrong verdicts at most ({CONFIDENCE:.0%}): a valid answer fails / a broken one passes"
    lines = [f"| lesson | the check | calibration tables | {wrong} |", "|---|---|---|---|"]
    return "\n".join(lines + [lesson.readme_row() for lesson in lessons])


def computed(lessons) -> dict[str, str]:
    """The generated parts computed from the lessons and their committed files (no training)."""
    return {"lessons": lesson_rows(lessons), "calibration": calibration_rows(lessons)}
