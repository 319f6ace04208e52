"""Which libraries and devices the workbook runs on: every notebook starts with ``report()``."""
from __future__ import annotations

import importlib
import importlib.metadata
import os
import platform

import keras

from .console import silenced_native_stderr


def gpus() -> list[str]:
    """Names of the GPUs the active Keras backend can use (empty on a CPU-only machine)."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        with silenced_native_stderr():  # "failed call to cuInit" on a machine without a GPU
            found = tf.config.list_physical_devices("GPU")
        return [tf.config.experimental.get_device_details(d).get("device_name", d.name) for d in found]
    if backend == "jax":
        import jax

        return [d.device_kind for d in jax.devices() if d.platform == "gpu"]
    if backend == "torch":
        import torch

        return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return []


def kernel_family() -> str:
    """TensorFlow's CPU kernel family in this process: "1" for oneDNN's, "0" for Eigen's.  ``TF_ENABLE_ONEDNN_OPTS``
    chooses it; unset, TensorFlow chooses by CPU (oneDNN's only where the CPU has the AVX-512 or AMX features it is
    tuned for), so TensorFlow is asked."""
    chosen = os.environ.get("TF_ENABLE_ONEDNN_OPTS", "").strip().lower()
    if chosen in ("0", "false"):
        return "0"
    if chosen in ("1", "true"):
        return "1"
    from tensorflow.python.util import _pywrap_util_port

    return "1" if _pywrap_util_port.IsMklEnabled() else "0"


def describe() -> dict[str, str]:
    backend = keras.backend.backend()
    info = {"python": platform.python_version(), "keras": keras.__version__, "backend": backend}
    try:  # read from its installed metadata: a backend other than TensorFlow need not load it
        info["tensorflow"] = importlib.metadata.version("tensorflow")
    except importlib.metadata.PackageNotFoundError:
        info["tensorflow"] = "not installed"
    if backend == "tensorflow":
        info["kernels"] = "oneDNN's (TF_ENABLE_ONEDNN_OPTS=1)" if kernel_family() == "1" else \
            "Eigen's (TF_ENABLE_ONEDNN_OPTS=0)"
    else:
        info[backend] = importlib.import_module(backend).__version__
    found = gpus()
    info["device"] = ", ".join(found) if found else "CPU only (no GPU found)"
    return info


def report() -> dict[str, str]:
    """Print and return the versions, the Keras backend and the GPUs found."""
    info = describe()
    width = max(map(len, info))
    for key, value in info.items():
        print(f"{key:<{width}}  {value}")
    return info
