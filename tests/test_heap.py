"""Once a process has trained a head, its C heap keeps room at its top (``tlclinic.heap``): a buffer allocated and
freed again and again after tf.data's ``M_TRIM_THRESHOLD`` of 128 KB is carved from the heap, not mapped afresh.
Importing the package alone (a kernel that trains only whole models) changes nothing."""
import ctypes
import os
import subprocess
import sys

import pytest

COUNT_MAPPED = """
import ctypes, sys
if sys.argv[1] != "nothing":
    import numpy as np
    import keras
    import tlclinic
    from tlclinic.training import train_head
if sys.argv[1] == "a head trained":
    x, y = np.zeros((8, 4), "float32"), np.zeros(8, "float32")
    build = lambda width: keras.Sequential([keras.Input((width,)), keras.layers.Dense(1)])
    def compiled(width):
        model = build(width)
        model.compile(optimizer="sgd", loss="mse")
        return model
    train_head(compiled, (x, y), (x, y), epochs=1, batch_size=4)
class Mallinfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                                      "fsmblks", "uordblks", "fordblks", "keepcost")]
libc = ctypes.CDLL(None)
libc.mallinfo2.restype = Mallinfo2
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
libc.mallopt(-1, 128 * 1024)  # M_TRIM_THRESHOLD, as tf.data sets it at the first fit on a generator
libc.mallopt(-3, 128 * 1024)  # M_MMAP_THRESHOLD at glibc's default, whatever this process raised it to before
mapped = 0
for _ in range(100):
    before = libc.mallinfo2().hblkhd  # bytes in regions mapped on their own
    block = libc.malloc(16 << 20)  # larger than any free chunk the imports leave, smaller than the pad
    mapped += libc.mallinfo2().hblkhd > before
    libc.free(block)
print(mapped)
"""


def mapped_of_100(imported: str) -> int:
    """On TensorFlow, whose tf.data sets the trim threshold that makes the pad worth having (on JAX a head's training
    need not grow the heap at all, so the pad may not have taken effect by the end of one tiny run)."""
    env = {**os.environ, "KERAS_BACKEND": "tensorflow"}
    done = subprocess.run([sys.executable, "-c", COUNT_MAPPED, imported], capture_output=True, text=True, check=True,
                          env=env)
    return int(done.stdout.split()[-1])


@pytest.mark.skipif(not hasattr(ctypes.CDLL(None), "mallinfo2"), reason="the C library is not glibc 2.33 or later")
def test_after_a_head_is_trained_a_buffer_comes_from_the_heap_where_without_it_each_is_mapped_afresh():
    assert mapped_of_100("nothing") == 100
    assert mapped_of_100("tlclinic imported") == 100
    assert mapped_of_100("a head trained") == 0
