"""Measure what ``tlclinic.doctor`` finds on small programs that won't train, each with its correct twin.

    python -m tlclinic.commands.catalogue --seeds 5

runs the catalogue (``tlclinic.doctor.catalogue``) at seeds 0 to 4 and prints the detections and false alarms
as a Markdown table, then the measured margins of the thresholds;

    python -m tlclinic.commands.catalogue --lessons --seeds 5 [--write] [LESSON ...]

runs each lesson's own programs (its ``doctor_cases()``) instead, all lessons or those named; ``--write`` puts
their rows into the README's generated table (``tlclinic.generated``), keeping the other lessons' rows.
"""
from __future__ import annotations

import argparse

from .. import generated
from ..doctor.catalogue import false_alarms, margins, run_catalogue, table
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


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tlclinic.commands.catalogue", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=5, help="run seeds 0..N-1 (default 5)")
    parser.add_argument("--lessons", action="store_true", help="the lessons' own programs instead of the catalogue")
    parser.add_argument("--write", action="store_true", help="with --lessons: write the README's table too")
    parser.add_argument("names", nargs="*", metavar="LESSON", help="with --lessons: only these lessons")
    args = parser.parse_args(argv)
    if args.lessons:
        found = lessons_table(range(args.seeds), args.names)
        print(found)
        if args.write:
            generated.write("doctor-lessons", merged_rows(found, generated.read("doctor-lessons"), args.names))
        return
    rows = run_catalogue(range(args.seeds))
    print(table(rows))
    for line in false_alarms(rows):
        print(f"- false alarm: {line}")
    print("\nMargins:")
    for name, value in margins(rows).items():
        print(f"- {name}: {value:.3g}")


if __name__ == "__main__":
    main()
