"""Checks that the hidden tests call: train the student's head and assert that it converges.

Every check trains under a fixed seed, keeps library warnings off stderr (nbgrader
scores a test cell that writes to stderr as failed) and turns any error raised by
the student's code into an ``AssertionError`` that says what went wrong.
"""
from __future__ import annotations

import contextlib
import logging
import warnings
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .training import CompiledHeads, Run


@contextlib.contextmanager
def quiet():
    """Silence Python warnings and TensorFlow's Python logger for the block."""
    tf_logger = logging.getLogger("tensorflow")
    level = tf_logger.level
    tf_logger.setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            yield
        finally:
            tf_logger.setLevel(level)


def train_student(train: Callable[..., Run], *args, **kwargs) -> Run:
    """Run ``train(*args, **kwargs)`` quietly; an error in the student's code fails the check with its message."""
    with quiet():
        try:
            return train(*args, **kwargs)
        except Exception as error:  # the student's code may raise anything; report it as a failed check
            raise AssertionError(f"training your head failed: {type(error).__name__}: {gist(error)}") from None


def gist(error: Exception) -> str:
    """An error's message without the graph traceback TensorFlow puts in it: its first and last lines."""
    lines = [line for line in str(error).splitlines() if line.strip()]
    return " ... ".join([lines[0], lines[-1]]) if len(lines) > 2 else " ".join(lines)


def with_output_units(build_head: Callable, units: tuple[int, ...]) -> Callable:
    """``build_head``, checked before any training: its model must output one of ``units`` values per example."""
    def build(input_dim: int):
        model = build_head(input_dim)
        shape = tuple(model.output_shape)
        assert len(shape) == 2 and shape[1] in units, (
            f"the head should output {' or '.join(map(str, units))} unit(s) per example, not {shape[1:]}")
        return model
    return build


def assert_loss_finite_and_falling(run: Run) -> None:
    loss = np.asarray(run.history["loss"], dtype=np.float64)
    assert np.all(np.isfinite(loss)), f"the training loss is not finite: {np.round(loss, 4).tolist()}"
    assert loss[-1] < loss[0], f"the training loss did not fall: {np.round(loss, 4).tolist()}"


@dataclass
class Calibration:
    """One head through a graded check at many seeds: how often it passed and its metric's range."""

    head: str
    should_pass: bool | None  # None: measured and shown, not held to either verdict
    passed: int
    seeds: int
    metric_min: float
    metric_max: float
    failures: list[str]
    also_min: float = float("nan")  # the range of a second metric, when the calibration reports one
    also_max: float = float("nan")

    @property
    def as_expected(self) -> bool:
        return self.should_pass is None or self.passed == (self.seeds if self.should_pass else 0)


def calibrate(heads: dict[str, Callable[[int], Run]], should_pass: dict[str, bool | None],
              assert_converged: Callable[[Run], None], metric: Callable[[Run], float], seeds,
              also: Callable[[Run], float] | None = None) -> list[Calibration]:
    """Train each head at each seed (``heads[name](seed, kept=...)``) and apply the graded assertions.

    Each head is traced once and retrained from its fresh weights at every seed (``CompiledHeads``): the runs a
    new build would give, three times faster.  A head whose training raises fails like one that does not converge.
    """
    seeds, rows, compiled = list(seeds), [], CompiledHeads()
    for name, train_at in heads.items():
        values, others, failures = [], [], []
        for seed in seeds:
            try:
                run = train_student(train_at, seed, kept=(compiled, name))
                values.append(metric(run))
                others.append(also(run) if also else float("nan"))
                assert_converged(run)
            except AssertionError as error:
                failures.append(f"seed {seed}: {str(error).splitlines()[0]}")
        rows.append(Calibration(name, should_pass[name], len(seeds) - len(failures), len(seeds),
                                *_range(values), failures, *_range(others)))
    return rows


def _range(values: list[float]) -> tuple[float, float]:
    """(min, max) of ``values``; NaN, NaN when there are none."""
    return (float(np.min(values)), float(np.max(values))) if values else (float("nan"), float("nan"))


def format_calibration(rows: list[Calibration], metric_name: str, also_name: str = "") -> str:
    """The calibration as a Markdown table (with a column for the second metric when ``also_name`` names it)."""
    extra = f" {also_name} min – max |" if also_name else ""
    lines = [f"| head | should | passed | {metric_name} min | {metric_name} max |{extra}",
             "|---|---|---|---|---|" + ("---|" if also_name else "")]
    for r in rows:
        should = "measured only" if r.should_pass is None else "pass" if r.should_pass else "fail"
        lines.append(f"| {r.head} | {should} | {r.passed}/{r.seeds} | {r.metric_min:.3f} | {r.metric_max:.3f} |"
                     + (f" {r.also_min:.3f} – {r.also_max:.3f} |" if also_name else ""))
    return "\n".join(lines)
