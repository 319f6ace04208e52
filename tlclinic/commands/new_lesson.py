"""Scaffold a new lesson: its folder, its nbgrader source notebook, and its rows in the README.

    python -m tlclinic.commands.new_lesson NN-some-name "what it is about, in a few words" [--root DIR]

writes ``tlclinic/lessons/some_name/__init__.py``, a ``Lesson`` that defines every part of
``tlclinic.lesson.REQUIRED`` (``NAME`` and ``TITLE`` as given, the other constants as placeholders marked TODO, the
answer a head by default, and each function a stub that raises ``NotImplementedError`` saying what it must do), and
``solutions/NN-some-name/NN-some-name.ipynb``, the source notebook with its nbgrader cells (the locked set-up cell,
the answer cell with its ``### RELEASE AS`` region, the visible check and the hidden test), so that ``make release``
works at once; then it rewrites the README's computed parts, so the lesson's rows appear there at once.

It refuses (exit code 2, saying why, writing nothing) a name not of the form ``NN-words``, a number, name or package
another lesson or notebook already uses, and a folder that exists; it never overwrites anything.  ``--root`` (by
default the repository this package lives in) scaffolds into another copy of the repository, whose own package
then writes its README.  CONTRIBUTING.md ("Adding a lesson") says what comes next.
"""
from __future__ import annotations

import argparse
import ast
import importlib
import json
import keyword
import os
import re
import shutil
import subprocess
import sys
import textwrap
import traceback
from pathlib import Path

from ..lesson import REQUIRED, ROOT, Lesson

PROG = "python -m tlclinic.commands.new_lesson"
NAME_FORM = re.compile(r"\d\d-[a-z0-9]+(-[a-z0-9]+)*")
NUMBERED = re.compile(r"(\d\d)-")
ANSWER_NAME = "build_head"  # the default kind of answer: tlclinic.crossing.HeadAnswer
WIDTH = 120  # the package's line length
SELF_CHECK, SELF_CHECK_POINTS = "self_check", 1  # the visible check's grade id and points
HIDDEN_TEST, HIDDEN_TEST_POINTS = "converges", 4  # the hidden test's


class Refusal(Exception):
    """The lesson cannot be scaffolded as asked; nothing was written."""


# ---- what is refused -----------------------------------------------------------------------------------------

def package_of(name: str) -> str:
    """The lesson's package: its name after ``NN-``, with ``-`` as ``_``."""
    return name[3:].replace("-", "_")


def lesson_names(root: Path) -> dict[str, str]:
    """package -> NAME of every lesson folder under ``root``, read from its source (nothing is imported)."""
    found = {}
    for init in sorted((root / "tlclinic" / "lessons").glob("*/__init__.py")):
        for node in ast.parse(init.read_text()).body:
            if (isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "NAME" for t in node.targets)
                    and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)):
                found[init.parent.name] = node.value.value
    return found


def refusals(root: Path, name: str, title: str) -> list[str]:
    """Why ``name`` and ``title`` cannot be scaffolded under ``root`` (none: they can)."""
    lessons_dir = root / "tlclinic" / "lessons"
    missing = [str(p) for p in (lessons_dir, root / "solutions", root / "README.md") if not p.exists()]
    if missing:
        return [f"{root} is not the repository's root: it has no {', '.join(missing)}"]
    why = []
    if not NAME_FORM.fullmatch(name):
        why.append(f"{name!r} is not a lesson name: two digits, a hyphen, then lowercase words of letters and digits "
                   "joined by hyphens ('05-some-name')")
    elif not package_of(name).isidentifier() or keyword.iskeyword(package_of(name)):
        why.append(f"{name!r} gives the package {package_of(name)!r}, which Python cannot import: start the words with "
                   "a letter, and use no Python keyword")
    if not title.strip() or any(c in title for c in '\n\r|"\\'):
        why.append(f"the title {title!r} should be a few words on one line, without | (it goes in the README's "
                   "tables), double quotes or backslashes")
    if why:
        return why
    number, package = name[:2], package_of(name)
    names = lesson_names(root)
    users = sorted({f"{folder}/{entry.name}" for folder in ("solutions", "notebooks") if (root / folder).is_dir()
                    for entry in (root / folder).iterdir() if NUMBERED.match(entry.name)
                    and entry.name[:2] == number}
                   | {f"tlclinic/lessons/{p} ({n})" for p, n in names.items() if n[:2] == number})
    if users:
        why.append(f"the number {number} is taken: {', '.join(users)}")
    if package in names or (lessons_dir / f"{package}.py").exists():
        why.append(f"the package {package!r} is taken: tlclinic/lessons/{package}")
    for path in (lessons_dir / package, root / "solutions" / name, root / "notebooks" / name):
        if path.exists():
            why.append(f"{path.relative_to(root)} exists (nothing is overwritten)")
    return why


# ---- the lesson's folder -------------------------------------------------------------------------------------

def literal(text: str, indent: str, lead: str = "", tail: str = "") -> str:
    """``lead`` + ``text`` as a Python string literal + ``tail``; when that is longer than ``WIDTH``, the text is
    split into adjacent literals on lines of their own, in parentheses (those of ``lead``'s call when it ends with
    ``(`` and ``tail`` begins with ``)``), indented one level more than ``indent``."""
    whole = f"{indent}{lead}{json.dumps(text, ensure_ascii=False)}{tail}"
    if len(whole) <= WIDTH:
        return whole
    inner = indent + " " * 4
    chunks = textwrap.wrap(text, WIDTH - len(inner) - 4, drop_whitespace=False, break_long_words=False,
                           break_on_hyphens=False)
    assert "".join(chunks) == text, text
    called = lead.endswith("(") and tail.startswith(")")
    opening, closing = (lead, tail) if called else (lead + "(", ")" + tail)
    return f"{indent}{opening}\n" + "\n".join(inner + json.dumps(c, ensure_ascii=False) for c in chunks) + closing


def comment(text: str, indent: str = "") -> str:
    return "\n".join(textwrap.wrap(text, WIDTH - len(indent), initial_indent=indent + "# ",
                                   subsequent_indent=indent + "# ", break_on_hyphens=False))


def signature(part: str) -> str:
    """A function part's parameters, as ``REQUIRED`` writes them (``train(answer, seed=0, ...) -> ...``);
    ``*args, **kwargs`` when its text gives none that Python reads."""
    text = REQUIRED[part]
    if text.startswith(part + "("):
        depth = 0
        for end, char in enumerate(text):
            depth += {"(": 1, ")": -1}.get(char, 0)
            if char == ")" and depth == 0:
                params = text[len(part) + 1:end]
                try:
                    ast.parse(f"def {part}({params}): pass")
                    return params
                except SyntaxError:
                    break
    return "*args, **kwargs"


def constant(part: str, name: str, title: str) -> str:
    """The line(s) defining a constant part: given, or a placeholder marked TODO with what it is."""
    if part == "NAME":
        return literal(name, "", "NAME = ")
    if part == "TITLE":
        return literal(title, "", "TITLE = ")
    if part == "ANSWER":
        return "\n".join([
            comment(f"The kind of answer the student writes: by default a head, {ANSWER_NAME}(input_dim) -> a compiled "
                    "keras.Model on the backbone's cached features (tlclinic.crossing.HeadAnswer). A new kind is a "
                    "subclass of tlclinic.crossing.Answer in this folder (answer.py: its kind, cross and rebuild, "
                    "and models when its data holds more than one model); the verifier needs no change. Under "
                    "another name, the notebook's answer cell (its grade id) and its checks' calls change with it."),
            f'ANSWER = HeadAnswer("{ANSWER_NAME}", MINI_INCEPTION_FEATURES)'])
    todo = f"TODO: {REQUIRED[part]}"
    annotation = str(Lesson.__annotations__.get(part, ""))
    if annotation.startswith("tuple"):
        return f"{comment(todo)}\n{part} = ()"
    if annotation == "str":
        return literal(todo, "", f"{part} = ")
    return f"{comment(todo)}\n{part} = None"


def stub(part: str, name: str, where: str) -> str:
    """A function part that raises ``NotImplementedError`` saying which part, where, and what it must do."""
    message = f"lesson {name}: write {part}(...) in {where}: {REQUIRED[part]}"
    return f"def {part}({signature(part)}):\n" + literal(message, "    ", "raise NotImplementedError(", ")")


def lesson_source(name: str, title: str) -> str:
    """The scaffolded ``__init__.py`` of lesson ``name``."""
    where = f"tlclinic/lessons/{package_of(name)}/__init__.py"
    head = "\n".join([
        f'"""Lesson {name[:2]}, {title}.',
        "",
        "Scaffolded by ``python -m tlclinic.commands.new_lesson``: every part that ``tlclinic.lesson.REQUIRED`` lists is",
        "here, the constants as placeholders marked TODO, the functions as stubs that raise ``NotImplementedError``",
        "saying what each must do.  The optional parts and what the base gives every lesson are in",
        "``tlclinic/lesson.py`` (class ``Lesson``); CONTRIBUTING.md (\"Adding a lesson\") says what comes next.",
        '"""',
        "from __future__ import annotations",
        "",
        "from ...backbone import MINI_INCEPTION_FEATURES",
        "from ...crossing import HeadAnswer",
        "from ...lesson import Lesson",
        "",
        "Lesson.adopt(__name__)  # this module is a Lesson (tlclinic.lesson): the parts below, the base's defaults for "
        "the rest",
        "",
    ])
    constants = [constant(part, name, title) for part in REQUIRED if not part[0].islower()]
    functions = [stub(part, name, where) for part in REQUIRED if part[0].islower()]
    return head + "\n" + "\n".join(constants) + "\n\n\n" + "\n\n\n".join(functions) + "\n"


# ---- the source notebook -------------------------------------------------------------------------------------

def nbgrader(grade_id: str, *, grade: bool = False, solution: bool = False, locked: bool = False,
             points: int | None = None) -> dict:
    meta = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": 3, "solution": solution,
            "task": False}
    return {"nbgrader": meta | ({"points": points} if points is not None else {})}


def notebook(name: str, title: str):
    """The skeleton of lesson ``name``'s nbgrader source: its cells, no outputs (nbformat 4.5, with cell ids)."""
    import nbformat
    from nbformat import v4

    answer = ANSWER_NAME
    cells = [
        v4.new_markdown_cell(
            f"# Lesson {name[:2]} — {title}\n\n"
            "*From question 000: \"TODO: the question's title\".*\n\n"
            "TODO: what the student does here: reproduce the failure, measure what it really does, see why, flip the "
            "fix live, then fix it. Their fix is graded by training it: it has to converge."),
        v4.new_code_cell(
            f"from tlclinic import device\nfrom tlclinic.lessons import {package_of(name)} as lesson\n\n"
            "device.report();", metadata=nbgrader("setup", locked=True)),
        v4.new_markdown_cell(
            "## Your turn\n\n"
            f"TODO: the question: what `{answer}` must return, what it is trained on, what the check asks.\n\n"
            "When your notebook is graded, only the cell below runs, on its own after the set-up cell at the top: "
            f"keep everything `{answer}` needs inside it, imports included. The grader calls `{answer}` once and "
            "takes what it returns as data, its Keras configuration; only Keras's own layers, losses and optimizers "
            "can cross (no `Lambda`, no custom classes)."),
        v4.new_code_cell(
            "import keras\nfrom keras import layers\n\n\n"
            f"def {answer}(input_dim):\n"
            '    """TODO: what the student writes, in one line."""\n'
            "    inputs = keras.Input((input_dim,))\n"
            "    ### BEGIN SOLUTION\n"
            "    # TODO: the fix (the source runs it; the release has the lines below instead).\n"
            '    outputs = layers.Dense(1, activation="sigmoid")(inputs)\n'
            "    ### RELEASE AS\n"
            "    # # TODO: the question's broken program, which the student starts from and fixes.\n"
            '    # outputs = layers.Dense(1, activation="sigmoid")(inputs)\n'
            "    ### END SOLUTION\n"
            "    model = keras.Model(inputs, outputs)\n"
            '    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])\n'
            "    return model", metadata=nbgrader(answer, solution=True)),
        v4.new_code_cell(f'print("the check asks for:", lesson.CHECK)\n'
                        f'print("how often it is wrong:", lesson.how_often_wrong())\nmine = lesson.train({answer})'),
        v4.new_code_cell(
            f"# Check ({SELF_CHECK_POINTS} point): your {answer} crosses to a fresh process as data (nothing else of "
            "this notebook goes\n# with it); there it is rebuilt, trained at seed 0 and must reach what "
            "`lesson.CHECK` says.\n"
            f"lesson.check({answer})", metadata=nbgrader(SELF_CHECK, grade=True, locked=True,
                                                         points=SELF_CHECK_POINTS)),
        v4.new_code_cell(
            f"# Graded ({HIDDEN_TEST_POINTS} points): the same check in the grader, at another seed.\n"
            f"### BEGIN HIDDEN TESTS\nlesson.check({answer}, seed=1)\n### END HIDDEN TESTS",
            metadata=nbgrader(HIDDEN_TEST, grade=True, locked=True, points=HIDDEN_TEST_POINTS)),
    ]
    nb = v4.new_notebook(cells=cells, metadata={
        "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
        "language_info": {"name": "python"}})
    nbformat.validate(nb)
    return nb


# ---- writing ---------------------------------------------------------------------------------------------------

def write_readme(root: Path) -> list[str]:
    """Rewrite the README's computed parts under ``root`` with ``root``'s own package (a fresh process when it is
    not the one imported here); the names of the parts that changed."""
    if root == ROOT:
        from .. import lessons
        from .readme import write_readme as write

        importlib.invalidate_caches()
        lessons._discovered.cache_clear()  # the new folder is a lesson now
        return write()
    code = ("import json, sys\nfrom pathlib import Path\nimport tlclinic\n"
            "if Path(tlclinic.__file__).resolve().parent.parent != Path(sys.argv[1]).resolve():\n"
            "    sys.exit(f'imported {tlclinic.__file__}, not the package under {sys.argv[1]}')\n"
            "from tlclinic.commands.readme import write_readme\nprint(json.dumps(write_readme()))\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")])))
    done = subprocess.run([sys.executable, "-c", code, str(root)], cwd=root, env=env, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"the README's parts could not be written:\n{done.stdout}{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def scaffold(root: Path, name: str, title: str) -> list[str]:
    """Write the lesson's folder and source notebook under ``root``, then the README's rows; what was done.

    Raises ``Refusal`` (nothing written) for what ``refusals`` names; on any failure afterwards, what this call
    created is removed again and the README is put back as it was.
    """
    root = root.resolve()
    if why := refusals(root, name, title):
        raise Refusal("\n".join(why))
    import nbformat

    folder = root / "tlclinic" / "lessons" / package_of(name)
    source = root / "solutions" / name / f"{name}.ipynb"
    nb = notebook(name, title)
    readme = root / "README.md"
    readme_before, created = readme.read_bytes(), []
    try:
        folder.mkdir()
        created.append(folder)
        with (folder / "__init__.py").open("x", encoding="utf-8") as file:
            file.write(lesson_source(name, title))
        source.parent.mkdir()
        created.append(source.parent)
        with source.open("x", encoding="utf-8") as file:
            nbformat.write(nb, file)
        done = [f"wrote {(folder / '__init__.py').relative_to(root)}: every part of tlclinic.lesson.REQUIRED, "
                "placeholders marked TODO and stubs that say what each must do",
                f"wrote {source.relative_to(root)}: the set-up cell, the answer cell ({ANSWER_NAME}, with its "
                f"RELEASE AS region), the visible check ({SELF_CHECK}) and the hidden test ({HIDDEN_TEST})"]
        done += [f"README.md: rewrote the generated part {part!r}" for part in write_readme(root)]
    except BaseException:
        for path in reversed(created):
            shutil.rmtree(path, ignore_errors=True)
        if readme.read_bytes() != readme_before:  # a part was written before another failed
            readme.write_bytes(readme_before)
        if root == ROOT:
            from .. import lessons

            lessons._discovered.cache_clear()
        raise
    return done


NEXT = """next: fill the parts (each stub says what it must do) and write the notebook; then make release,
python -m tlclinic.commands.calibrate --seeds 20 --write {name} under TF_ENABLE_ONEDNN_OPTS=0 and =1 and on JAX,
python -m tlclinic.commands.catalogue --lessons --seeds 5 --write, and a test file (CONTRIBUTING.md, "Adding a
lesson")."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n")[0])
    parser.add_argument("name", help="the lesson's NAME, 'NN-some-name': its notebooks' folder; its package is "
                                     "what follows NN-, with - as _")
    parser.add_argument("title", help="what the lesson is about, in a few words (its TITLE)")
    parser.add_argument("--root", type=Path, default=ROOT, help=f"the repository's root (default: {ROOT})")
    args = parser.parse_args(argv)
    try:
        done = scaffold(args.root, args.name, args.title)
    except Refusal as refusal:
        for reason in str(refusal).splitlines():
            print(f"{PROG}: refused: {reason}", file=sys.stderr)
        return 2
    except Exception as error:
        traceback.print_exc()
        print(f"{PROG}: failed: {type(error).__name__}: {error}\n{PROG}: what it had written is removed, the README "
              "is as it was", file=sys.stderr)
        return 1
    print("\n".join(done))
    print(NEXT.format(name=args.name))
    return 0


if __name__ == "__main__":
    sys.exit(main())
