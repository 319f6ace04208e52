"""Room at the top of the C heap, so that a training step's buffers are not mapped afresh at every step.

TensorFlow's tf.data sets glibc's ``M_TRIM_THRESHOLD`` to 128 KB at the first ``fit`` on a Python generator
(every run here: ``training.fit_shuffled``), which also stops glibc from raising its mmap threshold as it otherwise
would.  From then on a buffer above that threshold (128 KB unless raised before) that finds no room at the heap's
top is mapped on its own and unmapped when freed, and a freed top of the heap is given back at once: at the next
step the kernel maps and zeroes the same pages again.  A head's training step allocates and frees several such
buffers (0.2 to 2 MB each); on a 2-core machine, lesson 01's demonstration spent 10 of its 24 CPU seconds in the
kernel that way.  ``pad_heap`` has the heap grow by ``TOP_PAD`` beyond each request that needs more, and keep that
much at its top when memory is freed, so that those buffers are carved from memory already mapped (the same
demonstration: 1.4 s in the kernel).  Nothing computed changes.

Only a process that trains heads on cached features sets it (``training.train_head`` and ``train_seeds``: the
lessons whose runs are many small steps, and the verifier judging their answers).  A whole model's steps allocate
buffers of tens of megabytes; kept on the heap they raised lesson 04's peak by 60 to 90 MB with no gain in time, so
a kernel that trains only whole models keeps glibc's default.
"""
from __future__ import annotations

import ctypes
import functools

M_TOP_PAD = -2  # mallopt's parameter number, from glibc's malloc.h
TOP_PAD = 32 * 2**20


@functools.cache
def pad_heap(pad: int = TOP_PAD) -> bool:
    """Set glibc's ``M_TOP_PAD`` to ``pad`` bytes in this process, once however often a head is trained; False
    where the C library is not glibc (it has no ``mallopt``, and its allocator does not unmap a training step's
    buffers the same way)."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (AttributeError, OSError):
        return False
    return bool(mallopt(M_TOP_PAD, pad))
