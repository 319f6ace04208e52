"""The one list of lessons: every lesson folder has every part of the interface, and no other list exists."""
import types
from pathlib import Path

import pytest

from tlclinic import lessons

ROOT = lessons.ROOT
LESSONS = lessons.discover()


def test_every_lesson_folder_has_every_part_and_its_notebooks():
    assert list(LESSONS) == sorted(LESSONS) and len(LESSONS) >= 3
    for name, module in LESSONS.items():
        assert not lessons.missing_parts(module), (name, lessons.missing_parts(module))
        assert Path(module.__file__).parent.parent == Path(lessons.__file__).parent
        assert lessons.source_notebook(name).exists() and lessons.release_notebook(name).exists()


def test_a_folder_without_a_part_is_named_with_what_it_lacks(monkeypatch):
    module = lessons.Lesson("half_lesson")
    module.NAME, module.__file__ = "09-half", str(Path(lessons.__file__).parent / "half_lesson" / "__init__.py")
    monkeypatch.setattr(lessons.importlib, "import_module", lambda name: module)
    monkeypatch.setattr(lessons.pkgutil, "iter_modules", lambda path: [types.SimpleNamespace(name="half", ispkg=True)])
    lessons._discovered.cache_clear()
    try:
        with pytest.raises(lessons.LessonIncomplete, match=r"half_lesson lacks TITLE .*check_converges \(check_conv"):
            lessons.discover()
    finally:
        lessons._discovered.cache_clear()


def test_no_lesson_is_named_outside_its_own_folder():
    """The demo, calibration, benchmark, grader and release take the lessons from ``discover()``: nothing in the
    package, the Makefile, the benchmark or the grading configuration lists them."""
    own = {Path(module.__file__).parent for module in LESSONS.values()}
    files = [p for p in (ROOT / "tlclinic").rglob("*.py") if not any(p.is_relative_to(d) for d in own)]
    files += [ROOT / "Makefile", *(ROOT / "bench").glob("*.py"), *(ROOT / "autograde").glob("*.py")]
    for path in files:
        text = path.read_text()
        for name, module in LESSONS.items():
            package = Path(module.__file__).parent.name
            assert name not in text and f"lessons.{package}" not in text and f"lessons import {package}" not in text, (
                f"{path.relative_to(ROOT)} names lesson {name}: take it from tlclinic.lessons.discover()")


def test_the_readmes_generated_parts_are_what_the_lessons_and_their_tables_give():
    """A calibration (``--write``) or a new lesson rewrites them; nobody edits them by hand."""
    from tlclinic import generated

    for name, text in generated.computed(list(LESSONS.values())).items():
        assert generated.read(name).rstrip("\n") == text, (
            f"README.md's generated part {name!r} is stale: run python -m tlclinic.commands.readme")
    for name, module in LESSONS.items():
        assert f"| {name[:2]} {module.TITLE} |" in generated.read("lessons")
        assert f"\n| {name[:2]} | " in generated.read("doctor-lessons"), (
            f"the doctor's table has no row for {name}: run python -m tlclinic.commands.catalogue --lessons --write")


@pytest.mark.e2e
@pytest.mark.numerics
def test_the_doctor_names_each_lessons_bug_on_its_broken_program_and_nothing_on_its_fix():
    """Seed 0 here; seeds 0 to 4 in `python -m tlclinic.commands.catalogue --lessons --seeds 5` (README)."""
    for name, module in LESSONS.items():
        cases = module.doctor_cases()
        assert any(expected for _, expected in cases.values()) and any(not e for _, e in cases.values()), name
        for program, (report_at, expected) in cases.items():
            report = report_at(0)
            if expected:
                assert expected <= set(report.kinds), (name, program, str(report))
            else:
                assert not report.findings, (name, program, str(report))
