"""tlclinic.doctor.questions: the programs ported from real public questions, each with its accepted fix."""
import pytest

from tlclinic import doctor
from tlclinic.doctor import catalogue
from tlclinic.doctor.questions import QUESTIONS


def test_there_are_at_least_20_programs_each_citing_its_thread_in_its_docstring():
    assert len(QUESTIONS) >= 20
    assert len({program.name for program in QUESTIONS}) == len(QUESTIONS)
    for program in QUESTIONS:
        assert program.source.startswith("https://"), program.name
        assert program.source in (program.build.__doc__ or ""), f"{program.name}: the docstring does not cite it"
        assert program.twin.__doc__, f"{program.name}: the twin does not say which fix it is"
        assert program.expected in doctor.KINDS


def test_the_threads_table_links_each_thread_and_says_why_a_broken_fix_is_broken():
    rows = [catalogue.Row(program.name, variant, 0, program.expected if variant == "bug" else None, doctor.Report(),
                          program.twin_broken if variant == "twin" else "")
            for program in QUESTIONS for variant in ("bug", "twin")]
    text = catalogue.questions_table(rows, QUESTIONS)
    for program in QUESTIONS:
        assert f"]({program.source}) |" in text
    broken = [program for program in QUESTIONS if program.twin_broken]
    assert broken and all(f"the accepted fix is broken: {program.twin_broken}" in text for program in broken)
    assert f"({len(broken)} runs of twins whose accepted fix is itself broken are not counted)" in text


@pytest.mark.e2e
@pytest.mark.numerics
def test_each_question_is_named_and_no_working_fix_gets_a_finding():
    rows = catalogue.run_catalogue([0], QUESTIONS)
    for row in rows:
        if row.variant == "bug":
            assert row.expected in row.report.kinds, f"{row.program}: {row.report}"
        elif not row.twin_broken:
            assert row.report.findings == [], f"twin of {row.program}: {row.report}"
