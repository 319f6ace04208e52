"""What every lesson's graded check is made of: train the answer quietly, and the assertions all lessons share.

A check turns any error raised by the student's code into an ``AssertionError`` that says what went wrong, so a
failed check always reads as a sentence about the answer, followed by what the doctor reads off the model.
"""
from __future__ import annotations

import contextlib
import contextvars
from typing import Callable, Iterator

import numpy as np

from . import doctor
from .console import gist, quiet
from .training import CompiledHeads, Run

_ONE_ANSWER: contextvars.ContextVar[CompiledHeads | None] = contextvars.ContextVar("one answer's heads", default=None)


@contextlib.contextmanager
def one_answer() -> Iterator[None]:
    """Around the checks of one answer at several seeds: each ``train_student`` keeps its compiled model by the
    ``train`` it is given (``training.CompiledHeads``), so the answer's training step is traced once, not once per
    seed.  The runs are the same as without it (a test compares them); one answer has one architecture per
    ``train``, which is what ``CompiledHeads`` asks."""
    token = _ONE_ANSWER.set(CompiledHeads())
    try:
        yield
    finally:
        _ONE_ANSWER.reset(token)


def train_student(train: Callable[..., Run], *args, **kwargs) -> Run:
    """Run ``train(*args, **kwargs)`` quietly; an error in the student's code fails the check with its message.
    Within ``one_answer()``, the model is kept for the next seed (``train`` takes ``kept``, as every lesson's
    does)."""
    if (heads := _ONE_ANSWER.get()) is not None:
        kwargs.setdefault("kept", (heads, train))
    with quiet():
        try:
            return train(*args, **kwargs)
        except Exception as error:  # the student's code may raise anything; report it as a failed check
            raise AssertionError(f"training your head failed: {type(error).__name__}: {gist(error)}") from None


def with_output_units(build_head: Callable, units: tuple[int, ...]) -> Callable:
    """``build_head``, checked before any training: its model must output one of ``units`` values per example."""
    def build(input_dim: int):
        model = build_head(input_dim)
        shape = tuple(model.output_shape)
        assert len(shape) == 2 and shape[1] in units, (
            f"the head should output {' or '.join(map(str, units))} unit(s) per example, not {shape[1:]}")
        return model
    return build


def assert_converged_or_diagnose(assert_converged: Callable[[Run], None], run: Run, x, y) -> None:
    """``assert_converged(run)``; when it fails, its message goes on with the doctor's findings on the trained
    model (``x`` and ``y``: the data and targets it was fitted on), so a student whose fix fails is told why."""
    try:
        assert_converged(run)
    except AssertionError as error:
        raise AssertionError(f"{error}{diagnosis(run.model, x, y)}") from None


def diagnosis(model, x, y) -> str:
    """What ``doctor.diagnose`` finds on ``model``, as the end of a failed check's message ("" for nothing)."""
    try:
        findings = doctor.diagnose(model, x, y).findings
    except Exception as error:  # the doctor is advice: a model it cannot read still gets the check's own verdict
        return f". (The doctor could not read this model: {type(error).__name__}: {gist(error)})"
    return "".join(f". The doctor: {finding}" for finding in findings)


def assert_loss_finite_and_falling(run: Run) -> None:
    loss = np.asarray(run.history["loss"], dtype=np.float64)
    assert np.all(np.isfinite(loss)), f"the training loss is not finite: {np.round(loss, 4).tolist()}"
    assert loss[-1] < loss[0], f"the training loss did not fall: {np.round(loss, 4).tolist()}"
