"""Measure what ``tlclinic.doctor`` finds on small programs that won't train, each with its correct twin.

    python -m tlclinic.commands.catalogue --seeds 5 [--write]

runs the catalogue (``tlclinic.doctor.catalogue``) and the programs from real questions
(``tlclinic.doctor.questions``) at seeds 0 to 4 and prints the detections and false alarms as two Markdown
tables, then what was found on working twins and the measured margins of the thresholds; ``--write`` puts the
two tables into the README's generated part ``doctor-catalogue`` (``tlclinic.generated``);

    python -m tlclinic.commands.catalogue --twins [EPOCHS]

trains each real question's program and twin longer than the catalogue does (EPOCHS, default 100; XOR 4000)
and prints how well each learns, which is how ``Program.twin_broken`` was decided (minutes);

    python -m tlclinic.commands.catalogue --lessons --seeds 5 [--write] [LESSON ...]

runs each lesson's own programs (its ``doctor_cases()``) instead, all lessons or those named; ``--write`` puts
their rows into the README's generated table (``tlclinic.generated``), keeping the other lessons' rows.
"""
from __future__ import annotations

import argparse

import keras

from .. import generated
from ..doctor.catalogue import PROGRAMS, false_alarms, margins, questions_table, run_catalogue, table
from ..doctor.questions import QUESTIONS, trained_longer
from ..lessons import discover

HEADER = ["| lesson | program | must name | as expected | kinds named |", "|---|---|---|---|---|"]


def lessons_table(seeds, names=()) -> str:
    """Each lesson's programs (``doctor_cases()``) at each seed: what the doctor names against what it must
    (the kinds of a broken program among its findings; no finding at all on a fix), as a Markdown table.
    ``names``: only those lessons (default: all)."""
    lines = list(HEADER)
    for name, lesson in discover().items():
        if names and name not in names:
            continue
        for program, (report_at, expected) in lesson.doctor_cases().items():
            reports = [report_at(seed) for seed in seeds]
            ok = sum(expected <= set(r.kinds) if expected else not r.findings for r in reports)
            named = sorted({kind for r in reports for kind in r.kinds})
            lines.append(f"| {name[:2]} | {program} | {', '.join(sorted(expected)) or 'nothing'} | "
                         f"{ok}/{len(reports)} | {', '.join(named) or '-'} |")
    return "\n".join(lines)


def merged_rows(fresh: str, kept: str, names) -> str:
    """The README's table: the rows of ``fresh`` for the lessons ``names`` (all when empty), the rows already in
    ``kept`` for the others, in the lessons' order."""
    def rows_by_lesson(text: str) -> dict[str, list[str]]:
        rows: dict[str, list[str]] = {}
        for line in text.splitlines():
            if line.startswith("| ") and line not in HEADER:
                rows.setdefault(line[2:4], []).append(line)
        return rows

    new, old = rows_by_lesson(fresh), rows_by_lesson(kept)
    lines = list(HEADER)
    for name in discover():
        lines += new.get(name[:2], []) if not names or name in names else old.get(name[:2], [])
    return "\n".join(lines)


def merged_backends(fresh: str, kept: str, backend: str) -> str:
    """The catalogue's tables as measured on ``backend`` (``fresh``), merged with those the README holds from the
    other backends (``kept``): a row the same on several backends is one row naming them all in its last column; a
    row that differs is shown once for each; a totals line that differs is shown for each backend, named."""
    def key_and_backends(line: str) -> tuple[str, list[str]]:
        cells = line.rstrip().rstrip("|").rstrip().split(" | ")
        return " | ".join(cells[:-1]), [b.strip() for b in cells[-1].split(",")]

    def is_row(line: str) -> bool:
        return line.startswith("| ") and not line.startswith("| program |")

    others: dict[str, list[str]] = {}  # each kept row's key: the other backends it was measured on
    for line in kept.splitlines():
        if is_row(line):
            key, backends = key_and_backends(line)
            if elsewhere := [b for b in backends if b != backend]:
                others[key] = elsewhere
    named = sorted({b for line in kept.splitlines() if is_row(line) for b in key_and_backends(line)[1]} - {backend})
    kept_totals = [[t for t in block.splitlines() if t.startswith(("Totals", "On "))]  # each table's, in order
                   for block in kept.split("\n\n") if block.startswith(("Totals", "On "))]
    lines = []
    for line in fresh.splitlines():
        if is_row(line):
            key, _ = key_and_backends(line)
            program = key.split(" | ")[0]
            for other, backends in list(others.items()):  # the same program measured differently elsewhere
                if other != key and other.split(" | ")[0] == program:
                    lines.append(f"{other} | {', '.join(backends)} |")
                    del others[other]
            lines.append(f"{key} | {', '.join(others.pop(key, []) + [backend])} |")
        elif line.startswith("Totals"):
            elsewhere = [t for t in (kept_totals.pop(0) if kept_totals else [])
                         if _bare(t) != line and not t.startswith(f"On {backend}: ")]
            lines += [t if t.startswith("On ") else f"On {', '.join(named)}: {t}" for t in elsewhere]
            lines.append(f"On {backend}: {line}" if elsewhere else line)
        else:
            lines.append(line)
    return "\n".join(lines)


def _bare(totals: str) -> str:
    """A totals line without the backends it names ("On jax: Totals: ..." -> "Totals: ...")."""
    return totals.split(": ", 1)[1] if totals.startswith("On ") else totals


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tlclinic.commands.catalogue", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=5, help="run seeds 0..N-1 (default 5)")
    parser.add_argument("--lessons", action="store_true", help="the lessons' own programs instead of the catalogue")
    parser.add_argument("--write", action="store_true", help="write the README's table(s) too")
    parser.add_argument("--twins", nargs="?", type=int, const=100, metavar="EPOCHS",
                        help="train the real questions' programs and twins longer and say how well each learns")
    parser.add_argument("names", nargs="*", metavar="LESSON", help="with --lessons: only these lessons")
    args = parser.parse_args(argv)
    if args.lessons:
        found = lessons_table(range(args.seeds), args.names)
        print(found)
        if args.write:
            generated.write("doctor-lessons", merged_rows(found, generated.read("doctor-lessons"), args.names))
        return
    if args.twins:
        for program in QUESTIONS:
            for variant, build in (("bug", program.build), ("twin", program.twin)):
                s = trained_longer(build, 0, args.twins, program.batch_size or 32)
                print(f"| {program.name} | {variant} | {s['metric']} {s['value']:.3f} (chance {s['chance']:.3f}) | "
                      f"loss {s['loss_first']:.4g} -> {s['loss_last']:.4g} |", flush=True)
        return
    seeds = range(args.seeds)
    rows, asked = run_catalogue(seeds, PROGRAMS), run_catalogue(seeds, QUESTIONS)
    tables = f"{table(rows)}\n\nPrograms from real questions:\n\n{questions_table(asked, QUESTIONS)}"
    print(tables)
    for line in false_alarms(rows + asked):
        print(f"- false alarm: {line}")
    print("\nMargins:")
    for name, value in margins(rows + asked).items():
        print(f"- {name}: {value:.3g}")
    if args.write:
        generated.write("doctor-catalogue", merged_backends(tables, generated.read("doctor-catalogue"),
                                                            keras.backend.backend()))


if __name__ == "__main__":
    main()
