"""The calibration harness: a lesson's graded check over many seeds, where valid fixes must always pass and
broken answers never; its tables, and their summary in the README.

The command is ``python -m tlclinic.commands.calibrate`` (``make calibrate``).  Each lesson's table lives in its
folder, named by the family of kernels it ran under (``numerics_family``): ``calibration/onednn-<0|1>.md`` for
TensorFlow's two CPU families (``TF_ENABLE_ONEDNN_OPTS``; unset, TensorFlow picks one by CPU), ``jax-cpu.md``
for Keras on JAX (XLA's CPU kernels), ``torch-cpu.md`` for PyTorch, ``-gpu`` on a GPU; every seed's metrics
beside it in ``.json``.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from .grading import train_student
from .training import CompiledHeads, Run


@dataclass
class Calibration:
    """One answer through a graded check at many seeds: at each, its metric, a second metric where the lesson
    reports one, its final training loss, and whether it passed (``failures``: why not, by seed)."""

    head: str
    should_pass: bool | None  # None: measured and shown, not held to either verdict
    seeds: list[int]
    values: list[float]  # per seed, in the order of ``seeds``; NaN where training raised
    also_values: list[float]
    losses: list[float]  # the final training loss: what a resumed calibration checks the code still gives
    failures: dict[int, str] = field(default_factory=dict)

    @property
    def runs(self) -> int:
        return len(self.seeds)

    @property
    def passed(self) -> int:
        return self.runs - len(self.failures)

    @property
    def as_expected(self) -> bool:
        return self.should_pass is None or self.passed == (self.runs if self.should_pass else 0)

    @property
    def metric_range(self) -> tuple[float, float]:
        return _range(self.values)

    @property
    def also_range(self) -> tuple[float, float]:
        return _range(self.also_values)

    def then(self, later: "Calibration") -> "Calibration":
        """This answer's seeds followed by ``later``'s (the same answer at the seeds after these)."""
        return Calibration(self.head, self.should_pass, self.seeds + later.seeds, self.values + later.values,
                           self.also_values + later.also_values, self.losses + later.losses,
                           {**self.failures, **later.failures})


def calibrate(heads: dict[str, Callable[[int], Run]], should_pass: dict[str, bool | None],
              assert_converged: Callable[[Run], None], metric: Callable[[Run], float], seeds,
              also: Callable[[Run], float] | None = None) -> list[Calibration]:
    """Train each head at each seed (``heads[name](seed, kept=...)``) and apply the graded assertions.

    Each head is traced once and retrained from its fresh weights at every seed (``CompiledHeads``): the runs a
    new build would give, three times faster.  A head whose training raises fails like one that does not converge.
    """
    seeds, rows, compiled = list(seeds), [], CompiledHeads()
    for name, train_at in heads.items():
        row = Calibration(name, should_pass[name], seeds, [], [], [])
        for seed in seeds:
            value = other = loss = float("nan")
            try:
                run = train_student(train_at, seed, kept=(compiled, name))
                value, loss = metric(run), float(run.history["loss"][-1])
                other = also(run) if also else float("nan")
                assert_converged(run)
            except AssertionError as error:
                row.failures[seed] = str(error).splitlines()[0]
            row.values.append(value)
            row.also_values.append(other)
            row.losses.append(loss)
        rows.append(row)
    return rows


def merged(held: list[Calibration], later: list[Calibration]) -> list[Calibration]:
    """Each answer's ``held`` seeds followed by its ``later`` ones (answers in ``later``'s order)."""
    by_head = {row.head: row for row in held}
    return [by_head[row.head].then(row) if row.head in by_head else row for row in later]


# ---- tables that grow over several sittings ------------------------------------------------------------------

REPRODUCED = 1e-4  # relative: a held seed trained again under the same kernels gives the same losses to this


@dataclass
class Held:
    """A lesson's calibration table as written so far under this process's kernels (``table_path``)."""

    rows: list[Calibration]
    versions: dict[str, str]
    seconds: float  # wall time over every sitting (a machine shared, or a sitting paused, counts in it)

    @property
    def seeds(self) -> int:
        return min((row.runs for row in self.rows), default=0)


def versions() -> dict[str, str]:
    """What a calibration's numbers depend on besides the workbook's code: the kernel family and the libraries."""
    import importlib.metadata as metadata

    import keras

    backend = keras.backend.backend()
    library = dict(tensorflow="tensorflow", jax="jaxlib", torch="torch", numpy="numpy")[backend]
    return {"family": numerics_family(), "keras": keras.__version__, backend: metadata.version(library)}


def read_held(path: Path) -> tuple[Held | None, str]:
    """The table held at ``path`` (its ``.json``), or None and why it cannot be carried on."""
    if not path.with_suffix(".json").exists():
        return None, f"{path.name} has no per-seed numbers beside it" if path.exists() else ""
    path = path.with_suffix(".json")
    table = json.loads(path.read_text())
    if not table["rows"] or "losses" not in table["rows"][0]:
        return None, f"{path.name} holds no training losses to check the seeds against (an older table)"
    if table.get("versions") != versions():
        return None, f"{path.name} was measured with {table.get('versions')}, this process runs {versions()}"
    rows = [Calibration(r["head"], r["should_pass"], list(range(len(r["values"]))), *(
        [float("nan") if v is None else v for v in r[key]] for key in ("values", "also_values", "losses")),
        {int(seed): why for seed, why in r["failures"].items()}) for r in table["rows"]]
    return Held(rows, table["versions"], table["seconds"]), ""


def differences(held: Held, again: list[Calibration]) -> list[str]:
    """How the answers trained again at some of ``held``'s seeds differ from what it holds there: other answers,
    another verdict, or a final training loss that moved by more than ``REPRODUCED``."""
    if [(r.head, r.should_pass) for r in held.rows] != [(r.head, r.should_pass) for r in again]:
        return ["the lesson's answers are not the ones the table holds"]
    found = []
    for kept, now in zip(held.rows, again):
        for i, seed in enumerate(now.seeds):
            was, loss = kept.losses[seed], now.losses[i]
            same_loss = np.isclose(was, loss, rtol=REPRODUCED, atol=1e-6) or np.isnan(was) and np.isnan(loss)
            if (seed in kept.failures) != (seed in now.failures) or not same_loss:
                found.append(f"{now.head} at seed {seed}: loss {was:.6g} and "
                             f"{'failed' if seed in kept.failures else 'passed'} then, {loss:.6g} and "
                             f"{'failed' if seed in now.failures else 'passed'} now")
    return found


def write_table(path: Path, held: Held, heading: str, metric_name: str, also_name: str = "") -> str:
    """Write the table (``path``) and every seed's numbers beside it (``.json``); the table's text."""
    def plain(values):
        return [None if np.isnan(v) else v for v in values]

    text = f"{heading}\n\n{format_calibration(held.rows, metric_name, also_name)}\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    numbers = {"seeds": held.seeds, "family": held.versions["family"], "versions": held.versions,
               "seconds": round(held.seconds, 1), "rows": [
                   {"head": r.head, "should_pass": r.should_pass, "passed": r.passed, "values": plain(r.values),
                    "also_values": plain(r.also_values), "losses": plain(r.losses),
                    "failures": {str(seed): why for seed, why in sorted(r.failures.items())}} for r in held.rows]}
    for target, content in ((path.with_suffix(".json"), json.dumps(numbers, indent=1) + "\n"), (path, text)):
        partial = target.with_name(f".{target.name}.{os.getpid()}")
        partial.write_text(content)
        partial.replace(target)
    return text


CONFIDENCE = 0.95  # of every error-rate bound the tables and the README state


def error_bound(errors: int, runs: int, confidence: float = CONFIDENCE) -> float:
    """The one-sided Clopper-Pearson upper bound on a rate seen ``errors`` times in ``runs``: the largest rate at
    which so few errors still have probability 1 - ``confidence`` (0 of 20: 13.9%; 0 of 299: 1.0%)."""
    if errors >= runs:
        return 1.0

    def at_most_seen(rate: float) -> float:  # P(errors or fewer | rate)
        return sum(math.comb(runs, k) * rate ** k * (1 - rate) ** (runs - k) for k in range(errors + 1))

    low, high = errors / runs, 1.0
    for _ in range(60):  # bisection: at_most_seen falls as the rate grows
        middle = (low + high) / 2
        low, high = (middle, high) if at_most_seen(middle) > 1 - confidence else (low, middle)
    return high


def pass_rate_bound(should_pass: bool | None, passed: int, runs: int) -> str:
    """The pass rate's 95% Clopper-Pearson bound, as a table shows it: one-sided towards the wrong verdict (at
    least ... for a valid answer, at most ... for a broken one), two-sided for an answer measured only."""
    if should_pass is None:
        two_sided = (1 + CONFIDENCE) / 2
        return (f"{1 - error_bound(runs - passed, runs, two_sided):.1%} – "
                f"{error_bound(passed, runs, two_sided):.1%}")
    if should_pass:
        return f"≥ {1 - error_bound(runs - passed, runs):.1%}"
    return f"≤ {error_bound(passed, runs):.1%}"


def _range(values: list[float]) -> tuple[float, float]:
    """(min, max) of ``values`` that are numbers; NaN, NaN when there are none."""
    numbers = [v for v in values if not np.isnan(v)]
    return (float(np.min(numbers)), float(np.max(numbers))) if numbers else (float("nan"), float("nan"))


def format_calibration(rows: list[Calibration], metric_name: str, also_name: str = "") -> str:
    """The calibration as a Markdown table (with a column for the second metric when ``also_name`` names it)."""
    extra = f" {also_name} min – max |" if also_name else ""
    lines = [f"| head | should | passed | pass rate, {CONFIDENCE:.0%} bound | {metric_name} min | {metric_name} max |"
             f"{extra}", "|---|---|---|---|---|---|" + ("---|" if also_name else "")]
    for r in rows:
        should = "measured only" if r.should_pass is None else "pass" if r.should_pass else "fail"
        bound = pass_rate_bound(r.should_pass, r.passed, r.runs)
        (low, high), (also_low, also_high) = r.metric_range, r.also_range
        lines.append(f"| {r.head} | {should} | {r.passed}/{r.runs} | {bound} | {low:.3f} | {high:.3f} |"
                     + (f" {also_low:.3f} – {also_high:.3f} |" if also_name else ""))
    return "\n".join(lines)


def numerics_family() -> str:
    """The kernels this process trains with, as the calibration tables are named: ``onednn-0`` or ``onednn-1`` on
    TensorFlow's CPU, ``jax-cpu``, ``torch-cpu``, or the backend with ``-gpu`` where a GPU trains."""
    import keras

    from .device import gpus, kernel_family

    backend = keras.backend.backend()
    if gpus():
        return f"{backend}-gpu"
    return f"onednn-{kernel_family()}" if backend == "tensorflow" else f"{backend}-cpu"


def describe_family(family: str) -> str:
    """A table's family in words, for its heading."""
    if family.startswith("onednn-"):
        return f"TensorFlow, TF_ENABLE_ONEDNN_OPTS={family[-1]}"
    backend, device = family.rsplit("-", 1)
    return f"Keras on {dict(jax='JAX', torch='PyTorch', tensorflow='TensorFlow')[backend]}, {device.upper()}"


def table_path(lesson) -> Path:
    """Where a lesson's calibration table under this process's kernels is committed: in the lesson's own folder."""
    return lesson.folder / "calibration" / f"{numerics_family()}.md"


def _rows(path: Path) -> list[list[str]]:
    return [line.strip("| ").split(" | ") for line in path.read_text().splitlines()
            if line.startswith("| ") and not line.startswith("| head ")]


def _passed_of(row: list[str]) -> tuple[int, int]:
    passed, runs = row[2].split("/")
    return int(passed), int(runs)


def seeds_in(path: Path) -> int:
    """The most seeds any answer of the table at ``path`` was run at (0 without a table)."""
    return max((_passed_of(row)[1] for row in _rows(path)), default=0) if path.exists() else 0


def summarise_table(path: Path) -> str:
    """One committed calibration table in a few words: how many valid and broken answers, and how they fared."""
    rows = _rows(path)
    counts = {should: [r for r in rows if r[1] == should] for should in ("pass", "fail", "measured only")}
    wrong = [r[0] for r in counts["pass"] if _passed_of(r)[0] != _passed_of(r)[1]]
    wrong += [r[0] for r in counts["fail"] if _passed_of(r)[0] != 0]
    seeds = rows[0][2].split("/")[1] if rows else "?"
    text = (f"{len(counts['pass'])} valid answers, each {seeds}/{seeds}; {len(counts['fail'])} broken, each 0/{seeds}"
            + (f"; {len(counts['measured only'])} measured only" if counts["measured only"] else ""))
    return f"NOT AS EXPECTED ({', '.join(wrong)}): " + text if wrong else text


def wrong_verdict_bounds(path: Path) -> tuple[float, float]:
    """A committed table's bounds (``CONFIDENCE``, one-sided Clopper-Pearson) on how often its check is wrong: the
    largest false-fail rate over its valid answers, the largest false-pass rate over its broken ones."""
    rows = _rows(path)
    false_fail = max((error_bound(runs - passed, runs) for passed, runs in
                      (_passed_of(r) for r in rows if r[1] == "pass")), default=0.0)
    false_pass = max((error_bound(passed, runs) for passed, runs in
                      (_passed_of(r) for r in rows if r[1] == "fail")), default=0.0)
    return false_fail, false_pass


def _tables(lesson) -> list[Path]:
    """A lesson's committed calibration tables, TensorFlow's families first."""
    tables = (lesson.folder / "calibration").glob("*.md")
    return sorted(tables, key=lambda t: (not t.stem.startswith("onednn-"), t.stem))


def _largest_bounds(tables: list[Path]) -> tuple[float, float]:
    bounds = [wrong_verdict_bounds(t) for t in tables]
    return max(b[0] for b in bounds), max(b[1] for b in bounds)


def _bounds_by_family(tables: list[Path]) -> str:
    """The bounds of each table, the families with equal bounds together: "13.9% / 13.9% (onednn-0, onednn-1)"."""
    families: dict[tuple[float, float], list[str]] = {}
    for table in tables:
        families.setdefault(wrong_verdict_bounds(table), []).append(table.stem)
    return "; ".join(f"{false_fail:.1%} / {false_pass:.1%} ({', '.join(names)})"
                     for (false_fail, false_pass), names in families.items())


def readme_row(lesson) -> str:
    """A lesson's row of the README's calibration table, from the tables committed in its folder: each table in
    a few words, and the largest bounds on a wrong verdict over them."""
    root = lesson.folder.parent.parent.parent
    tables = _tables(lesson)
    found = "; ".join(f"[{t.stem}]({t.relative_to(root)}): {summarise_table(t)}" for t in tables)
    wrong = _bounds_by_family(tables) if tables else "-"
    folder = (lesson.folder / "calibration").relative_to(root)
    return (f"| {lesson.NAME[:2]} | {lesson.CHECK} | "
            f"{found or f'not yet calibrated: run make calibrate ({folder}/)'} | {wrong} |")


def how_often_wrong(lesson) -> str:
    """How the lesson's check was calibrated and how often, at most, it is wrong, in a sentence for the student,
    from the committed tables: the table of this machine's kernels when there is one, else all of them."""
    tables = _tables(lesson)
    if not tables:
        return "this check has not been calibrated yet (make calibrate)"
    own = [t for t in tables if t.stem == numerics_family()]
    judged = own or tables
    per_table = [_rows(t) for t in judged]
    valid = max(sum(r[1] == "pass" for r in rows) for rows in per_table)  # (names differ between families: lesson
    broken = max(sum(r[1] == "fail" for r in rows) for rows in per_table)  # 03's suggested rates are measured)
    seeds = sorted({_passed_of(r)[1] for rows in per_table for r in rows})
    as_expected = not any(summarise_table(t).startswith("NOT AS EXPECTED") for t in judged)
    false_fail, false_pass = _largest_bounds(judged)
    where = (f"under this machine's kernels ({own[0].stem})" if own else f"under the {tables[0].stem} kernels"
             if len(tables) == 1 else f"under {len(tables)} kernel families ({', '.join(t.stem for t in tables)})")
    others = [t.stem for t in tables if t not in judged]
    return (f"{where} it was run on {valid} valid and {broken} broken answers at "
            f"{' to '.join(map(str, seeds[::max(1, len(seeds) - 1)]))} seeds each: "
            + ("every valid answer passed and every broken one failed at every seed. "
               if as_expected else "not every answer got its verdict at every seed (see the tables). ")
            + f"So, with {CONFIDENCE:.0%} confidence, an answer like the valid ones fails at most {false_fail:.1%} "
              f"of seeds, and one like the broken ones passes at most {false_pass:.1%}"
            + (f" (also calibrated under {', '.join(others)})" if others else ""))
