"""The scaffold of a new lesson (``python -m tlclinic.commands.new_lesson``), run in a copy of the repository: the
lesson it writes is discovered with every part, its stubs say what to write and where, its notebook is released by
what ``make release`` runs, the README's rows appear at once, and a second run refuses and changes nothing."""
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from tlclinic import generated
from tlclinic.commands import new_lesson
from tlclinic.lesson import REQUIRED, ROOT

COPIED = ("tlclinic", "solutions", "notebooks", "README.md", "Makefile", "autograde", "nbgrader_config.py",
          "pyproject.toml")
NAME, TITLE, PACKAGE = "99-scaffolded-lesson", "a scaffolded lesson", "scaffolded_lesson"
STUB_FILE = f"tlclinic/lessons/{PACKAGE}/__init__.py"

# Run in a fresh process with the copy first on the path: what it imported, what it discovered, a stub's message,
# and the release that `make release` makes (tlclinic.nbgrader_release.release), for the new lesson only.
IN_THE_COPY = f"""
import json
import tlclinic
from tlclinic import lessons, nbgrader_release

found = lessons.discover()
lesson = found[{NAME!r}]
try:
    lesson.train(None)
    stub = None
except NotImplementedError as error:
    stub = str(error)
lessons.names = lambda: [{NAME!r}]  # release() releases every lesson; the others' releases are already there
released = nbgrader_release.release()
print(json.dumps({{"file": tlclinic.__file__, "lessons": list(found), "missing": lessons.missing_parts(lesson),
                  "graded": {{k: list(v) for k, v in lesson.graded_tests().items()}}, "stub": stub,
                  "released": released}}))
"""


def copy_of_the_repository(to: Path) -> Path:
    for name in COPIED:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, to / name, ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"))
        else:
            shutil.copy2(source, to / name)
    return to


def digest(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*"))
            if p.is_file() and "__pycache__" not in p.parts}


def release_lines(source: str) -> list[str]:
    """The lines of an answer cell's ``### RELEASE AS`` section, uncommented as the release gives them."""
    section = source.split("### RELEASE AS\n")[1].split("### END SOLUTION")[0]
    return [re.sub(r"^(\s*)# ?", r"\1", line) for line in section.splitlines() if line.strip()]


@pytest.mark.e2e  # a fresh process imports the copy and nbgrader releases its notebook: 20 s of make test's passes
def test_a_scaffolded_lesson_is_discovered_released_and_listed_and_is_never_written_twice(tmp_path, capsys):
    root = copy_of_the_repository(tmp_path / "repo")
    readme_before = (root / "README.md").read_text()

    assert new_lesson.main([NAME, TITLE, "--root", str(root)]) == 0
    assert "rewrote the generated part 'lessons'" in capsys.readouterr().out

    # The source notebook: nbformat 4.5 with cell ids, committed clean, its nbgrader cells.
    source = root / "solutions" / NAME / f"{NAME}.ipynb"
    nb = nbformat.read(source, as_version=4)
    nbformat.validate(nb)
    assert (nb.nbformat, nb.nbformat_minor) == (4, 5) and all(cell.get("id") for cell in nb.cells)
    assert not [c for c in nb.cells if c.cell_type == "code" and (c.outputs or c.execution_count is not None)]
    cells = {c.metadata["nbgrader"]["grade_id"]: c for c in nb.cells if "nbgrader" in c.metadata}
    assert list(cells) == ["setup", "build_head", "self_check", "converges"]
    assert cells["setup"].metadata.nbgrader.locked and f"lessons import {PACKAGE} as lesson" in cells["setup"].source
    assert cells["build_head"].metadata.nbgrader.solution and "### BEGIN SOLUTION" in cells["build_head"].source
    assert cells["self_check"].metadata.nbgrader.points == 1 and "lesson.check(build_head)" in cells["self_check"].source
    assert cells["converges"].metadata.nbgrader.points == 4
    assert "### BEGIN HIDDEN TESTS\nlesson.check(build_head, seed=1)" in cells["converges"].source

    # In the copy: discovered with no part missing, a stub that says what to write where, the release generated.
    env = dict(os.environ, PYTHONPATH=str(root))
    done = subprocess.run([sys.executable, "-c", IN_THE_COPY], cwd=root, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert Path(seen["file"]).resolve() == root / "tlclinic" / "__init__.py", seen["file"]
    assert seen["lessons"][-1] == NAME and seen["missing"] == []
    assert seen["graded"] == {"self_check": [1.0, 0], "converges": [4.0, 1]}
    assert seen["stub"] and f"lesson {NAME}: write train(...) in {STUB_FILE}: {REQUIRED['train']}" == seen["stub"]
    assert seen["released"] == [NAME]
    released = nbformat.read(root / "notebooks" / NAME / f"{NAME}.ipynb", as_version=4)
    answer = next(c for c in released.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "build_head")
    assert all(line in answer.source.splitlines() for line in release_lines(cells["build_head"].source)), answer.source
    text = json.dumps(released)
    assert "seed=1" not in text and "HIDDEN TESTS" not in text and "BEGIN SOLUTION" not in text

    # The README's rows, at once; nothing else of it changed.
    readme = root / "README.md"
    assert f"| {NAME[:2]} {TITLE} |" in generated.read("lessons", readme)
    assert f"\n| {NAME[:2]} | TODO: " in generated.read("calibration", readme)
    added = set(readme.read_text().splitlines()) - set(readme_before.splitlines())
    assert all(line.startswith(f"| {NAME[:2]} ") for line in added) and len(added) == 2, added
    assert not set(readme_before.splitlines()) - set(readme.read_text().splitlines())

    # A second scaffold of the same name refuses, saying why, and changes nothing.
    before = digest(root)
    assert new_lesson.main([NAME, TITLE, "--root", str(root)]) == 2
    err = capsys.readouterr().err
    assert "refused: the number 99 is taken" in err and f"the package {PACKAGE!r} is taken" in err
    assert f"solutions/{NAME} exists" in err
    assert digest(root) == before


@pytest.fixture
def small_root(tmp_path):
    """The little of a repository the refusals read: one lesson's NAME, a notebook folder, a README."""
    (tmp_path / "tlclinic" / "lessons" / "one").mkdir(parents=True)
    (tmp_path / "tlclinic" / "lessons" / "one" / "__init__.py").write_text('NAME = "01-one"\n')
    (tmp_path / "solutions" / "01-one").mkdir(parents=True)
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "00-by-itself.ipynb").write_text("{}")
    (tmp_path / "README.md").write_text("")
    return tmp_path


@pytest.mark.parametrize("name, title, why", [
    ("5-short", TITLE, "is not a lesson name"),
    ("05_under_score", TITLE, "is not a lesson name"),
    ("05-Upper", TITLE, "is not a lesson name"),
    ("05-", TITLE, "is not a lesson name"),
    ("05-3d-heads", TITLE, "which Python cannot import"),
    ("05-class", TITLE, "which Python cannot import"),
    ("05-fine", "a | b", "should be a few words on one line"),
    ("01-other", TITLE, "the number 01 is taken: solutions/01-one, tlclinic/lessons/one (01-one)"),
    ("00-other", TITLE, "the number 00 is taken: notebooks/00-by-itself.ipynb"),
    ("05-one", TITLE, "the package 'one' is taken"),
])
def test_a_name_of_the_wrong_form_or_taken_is_refused_with_exit_code_2_and_nothing_written(small_root, capsys, name,
                                                                                          title, why):
    before = digest(small_root)
    assert new_lesson.main([name, title, "--root", str(small_root)]) == 2
    assert why in capsys.readouterr().err
    assert digest(small_root) == before


def test_a_folder_that_exists_is_refused(small_root, capsys):
    (small_root / "notebooks" / "05-fine").mkdir()
    assert new_lesson.main(["05-fine", TITLE, "--root", str(small_root)]) == 2
    assert "notebooks/05-fine exists (nothing is overwritten)" in capsys.readouterr().err
