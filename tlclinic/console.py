"""Output a person reads: no start-up noise, no library warnings in the lessons' training runs, short errors.

TensorFlow's C++ side writes absl lines to the process's stderr (file descriptor 2) when it loads ("oneDNN
custom operations are on", "Could not find cuda drivers") and when it first looks for a GPU ("failed call to
cuInit") however ``TF_CPP_MIN_LOG_LEVEL`` is set.  ``silenced_native_stderr`` points descriptor 2 at
/dev/null around those calls; Python's own ``sys.stderr`` is untouched for the rest of the run.  The INFO lines
it logs once it runs (tf.data's "Memory patch applied: M_TRIM_THRESHOLD=128 kb was set." at the first ``fit`` on a
Python generator, in a cell) are turned off before it loads by ``quiet_native_info``, so that a kernel shows none
whatever its environment.  Set ``TLCLINIC_VERBOSE=1`` to see the lines.
"""
from __future__ import annotations

import contextlib
import logging
import os
import sys
import warnings


@contextlib.contextmanager
def silenced_native_stderr():
    """Send what native code writes to file descriptor 2 to /dev/null for the block (unless TLCLINIC_VERBOSE)."""
    if os.environ.get("TLCLINIC_VERBOSE"):
        yield
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no descriptor 2 to silence
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def quiet_native_info() -> None:
    """TensorFlow's C++ log without its INFO lines (``TF_CPP_MIN_LOG_LEVEL`` at least 1, unless TLCLINIC_VERBOSE):
    TensorFlow reads the variable once, when it loads, so this comes before it is imported."""
    if not os.environ.get("TLCLINIC_VERBOSE") and os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0") in ("", "0"):
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "1"


@contextlib.contextmanager
def quiet():
    """Silence Python warnings and TensorFlow's Python logger for the block (training runs the lessons show)."""
    tf_logger = logging.getLogger("tensorflow")
    level = tf_logger.level
    tf_logger.setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            yield
        finally:
            tf_logger.setLevel(level)


def gist(error: BaseException) -> str:
    """An error's message without the graph traceback TensorFlow puts in it: its first and last lines."""
    lines = [line for line in str(error).splitlines() if line.strip()]
    return " ... ".join([lines[0], lines[-1]]) if len(lines) > 2 else " ".join(lines)
