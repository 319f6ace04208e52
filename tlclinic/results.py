"""Heavy demonstrations computed once per machine: results kept on disk, keyed by code, data and backend.

A lesson's 20-seed counts, sweeps and range tests do not depend on the student's code.  ``kept`` computes one
the first time and keeps it under ``data/results/``; the key covers everything that could change the numbers:
the package's source, the backbone's weights, the datasets, and what a calibration's numbers depend on
(``calibration.versions``): the kernels (TensorFlow's CPU family, ``TF_ENABLE_ONEDNN_OPTS`` or, unset, the one
TensorFlow picks; XLA's on JAX; a GPU's), the versions of Keras and of the backend's library.
Same key, same result, so a notebook run again, the demo after the tests, or a second lesson that shows the same
sweep costs nothing.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import pickle
from pathlib import Path
from typing import Any, Callable

from . import data
from .backbone import MINI_WEIGHTS, file_digest

PACKAGE = Path(__file__).resolve().parent


def identity() -> str:
    """What every kept result depends on besides its own arguments."""
    code = hashlib.sha256()
    for path in sorted(PACKAGE.rglob("*.py")):
        code.update(path.read_bytes())
    datasets = {name: data.identity(data.DATA_DIR / name) for name in data.RECIPES
                if (data.DATA_DIR / name).exists()}
    from .calibration import versions  # the kernels (a GPU's among them), Keras and the backend's library

    parts = {"code": code.hexdigest(), "weights": file_digest(MINI_WEIGHTS), "data": datasets, **versions()}
    return json.dumps(parts, sort_keys=True)


def kept(name: str, compute: Callable[[], Any], *arguments) -> Any:
    """``compute()``, or the result kept for ``name`` and ``arguments`` from an earlier call on this machine.  A
    process that asks while another computes the same result waits for it (a lock file beside the result), rather
    than computing it again beside it on the same cores."""
    key = hashlib.sha256(json.dumps([name, repr(arguments), identity()]).encode()).hexdigest()[:24]
    path = data.DATA_DIR / "results" / f"{name}-{key}.pickle"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, or the process ends
        if path.exists():
            with open(path, "rb") as f:
                return pickle.load(f)
        result = compute()
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        with open(tmp, "wb") as f:
            pickle.dump(result, f)
        tmp.replace(path)
        return result
