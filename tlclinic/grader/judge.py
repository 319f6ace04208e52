"""The verifier's verdicts on the answers taken (``judge_all``), and the grading of one submission or of a course:
its answers taken ``jobs`` at a time, then judged, a submission unchanged since the last run keeping its rows."""
from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .. import jail, verdict
from ..console import quiet, silenced_native_stderr
from ..lessons import load
from .shards import (WHOLE, Shard, find_submissions, grading_identity, relative, reusable, root_of,
                     submission_key)
from .submissions import Row, Submission, Taken, answer, lesson_named, student_of


def judge_all(subs: list[Submission], jobs: int, timeout: int, sandboxed: bool = True,
              started: list[jail.Started] = ()) -> None:
    """The verifier's verdicts on every answered submission, ``jobs`` verifier processes at a time (the first ones
    ``started`` already: ``verdict.verifiers_started``).

    A verdict depends only on the lesson, the crossed answer and the seed (training is deterministic for them),
    so answers that crossed as the same data are judged once: a class whose students hand in the untouched
    release, or the same fix, pays for it once; fewer distinct answers than ``jobs`` share their tests out among
    the verifiers (``split_tests``).  The verifiers run jailed, read-only: what their checks read
    from disk (datasets, feature caches) is prepared here first.
    """
    for lesson in sorted({s.lesson for s in subs if s.rows is None} if sandboxed else ()):
        with silenced_native_stderr(), quiet():
            load(lesson).prepare()
    alike: dict[str, list[Submission]] = {}
    for sub in (s for s in subs if s.rows is None):
        key = json.dumps([sub.lesson, sub.crossed, seeds_of(sub.lesson)], sort_keys=True)
        alike.setdefault(key, []).append(sub)
    groups = list(alike.values())
    parts = [(index, tests) for index, group in enumerate(groups)
             for tests in split_tests(seeds_of(group[0].lesson), len(groups), jobs)]
    chunks = [chunk for i in range(max(1, jobs)) if (chunk := parts[i::max(1, jobs)])]
    found_by_group: list[list[dict | str]] = [[] for _ in groups]

    def judge_chunk(chunk: list[tuple[int, dict[str, int]]], verifier: jail.Started | None) -> None:
        requests = [{"lesson": groups[index][0].lesson, "answer": groups[index][0].crossed, "tests": tests}
                    for index, tests in chunk]
        for (index, _), found in zip(chunk, verdict.verify_many(requests, timeout, sandboxed, verifier)):
            found_by_group[index].append(found)

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        list(pool.map(judge_chunk, chunks, [*started[:len(chunks)], *[None] * (len(chunks) - len(started))]))
    for group, found_parts in zip(groups, found_by_group):
        failed = [found for found in found_parts if isinstance(found, str)]
        found = failed[0] if failed else {test: f for part in found_parts for test, f in part.items()}
        for sub in group:
            sub.rows = sub.conclude(found)
            if isinstance(found, dict):
                sub.seconds = {**(sub.seconds or {}), **{f"test {test}": f.get("seconds", 0.0)
                                                         for test, f in found.items()}}


def split_tests(tests: dict[str, int], answers: int, jobs: int) -> list[dict[str, int]]:
    """An answer's graded tests as the verifiers will take them: together, so that its training step is traced
    once for all their seeds (``grading.one_answer``); or, when there are fewer distinct answers than ``jobs``,
    shared out among the verifiers that would otherwise stay idle, so that a submission graded alone trains its
    seeds side by side."""
    shares = min(len(tests), max(1, jobs // max(1, answers)))
    items = list(tests.items())
    return [dict(items[i::shares]) for i in range(shares)]


def seeds_of(lesson: str) -> dict[str, int]:
    """grade_id -> seed of each graded test of ``lesson``."""
    return {test: graded.seed for test, graded in load(lesson).graded_tests().items()}


def grade_submission(path: Path, root: Path, timeout: int = 180, sandboxed: bool = True) -> list[Row]:
    """Grade one submitted notebook; never raises for a bad submission (nor for a failing machine)."""
    sub = answer(path, root, timeout, sandboxed)
    judge_all([sub], 1, timeout, sandboxed)
    return sub.rows


def grade_course(target: Path, jobs: int, timeout: int = 180, log=print, sandboxed: bool = True,
                 shard: Shard = WHOLE, previous: dict | None = None) -> list[Submission]:
    """Grade the submissions under ``target`` that ``shard`` holds: answers ``jobs`` at a time, then the
    verdicts, reporting each.  A submission that ``previous`` (the last run's manifest entries) records with the
    same content hash, every row graded, is not graded again: it keeps its rows."""
    root = root_of(target)
    paths = [p for p in find_submissions(target) if shard.holds(student_of(p, root))]
    identity, previous = grading_identity(timeout, sandboxed), previous or {}
    keys = {p: submission_key(p, identity) for p in paths}
    kept = {p: sub for p in paths if (sub := reusable(p, keys[p], previous.get(relative(p, root))))}
    to_answer = [p for p in paths if p not in kept]
    with verdict.verifiers_started(verifiers_to_start(to_answer, jobs), sandboxed) as started:
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            taken = Taken()  # the same answer cells are run once
            fresh = list(pool.map(lambda p: answer(p, root, timeout, sandboxed, taken), to_answer))
        log(f"answers of {len(fresh)} submission(s) taken; judging {sum(s.rows is None for s in fresh)}"
            + (f"; {len(kept)} unchanged since the last run, their grades reused" if kept else ""), flush=True)
        judge_all(fresh, jobs, timeout, sandboxed, started)
    answered = {sub.path: sub for sub in fresh}
    subs = [kept[p] if p in kept else answered[p] for p in paths]
    for done, sub in enumerate(subs, 1):
        sub.key = keys[sub.path]
        got, out_of = sum(r.points for r in sub.rows), sum(r.max_points for r in sub.rows)
        state = "NOT GRADED" if any(r.status != "graded" for r in sub.rows) else f"{got:g}/{out_of:g}"
        log(f"[{done}/{len(subs)}] {relative(sub.path, root)}: {state}{' (unchanged)' if sub.reused else ''}",
            flush=True)
    return subs


def verifiers_to_start(to_answer: list[Path], jobs: int) -> int:
    """How many verifiers start with the answers' processes, importing Keras while the answers are taken: with
    fewer answers than ``jobs``, as many as ``judge_all`` will use if every answer is distinct and judged (each
    test of a lone submission graded with ``--jobs 2`` in a verifier of its own), so that their start-up does not
    wait for the answers; but never more than one process beyond ``jobs`` at once, that one only importing.  A
    class that fills every job starts none early."""
    if len(to_answer) >= jobs:
        return 0
    tests = [len(seeds_of(lesson)) if (lesson := lesson_named(path)) else 1 for path in to_answer]
    used = sum(len(split_tests(dict.fromkeys(range(n)), len(to_answer), jobs)) for n in tests)
    return min(used, jobs - len(to_answer) + 1)


def grade_all(target: Path, jobs: int, timeout: int = 180, log=print, sandboxed: bool = True) -> list[Row]:
    """The rows of every submission under ``target``, all graded afresh."""
    return rows_of(grade_course(target, jobs, timeout, log, sandboxed))


def rows_of(subs: list[Submission]) -> list[Row]:
    return [row for sub in subs for row in sub.rows]
