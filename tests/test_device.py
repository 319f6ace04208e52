from tlclinic import device


def test_report_prints_versions_backend_and_devices(capsys):
    import keras
    import tensorflow as tf

    info = device.report()
    out = capsys.readouterr().out
    assert info["keras"] == keras.__version__ and info["tensorflow"] == tf.__version__
    assert info["backend"] == keras.backend.backend()
    for value in (keras.__version__, tf.__version__, info["device"]):
        assert value in out
    assert info["device"] == (", ".join(device.gpus()) or "CPU only (no GPU found)")


def test_a_fresh_python_that_imports_the_workbook_and_trains_prints_no_native_noise():
    """TensorFlow's native lines (oneDNN, cudart_stub, cuInit, absl; tf.data's "Memory patch applied" at the first
    fit on a generator) go nowhere, with TF_CPP_MIN_LOG_LEVEL unset as in a kernel, unless TLCLINIC_VERBOSE asks."""
    import os
    import subprocess
    import sys

    code = ("from tlclinic import device; device.report()\n"
            "import keras, numpy as np\nfrom tlclinic.training import fit_shuffled\n"
            "model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])\nmodel.compile('sgd', 'mse')\n"
            "fit_shuffled(model, np.zeros((4, 2)), np.zeros(4), epochs=1, batch_size=2)")
    unset = ("TLCLINIC_VERBOSE", "TF_CPP_MIN_LOG_LEVEL")
    quiet = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={k: v for k, v in os.environ.items() if k not in unset})
    assert quiet.stderr == "" and "keras" in quiet.stdout
    loud = subprocess.run([sys.executable, "-c", "import os; from tlclinic.console import silenced_native_stderr\n"
                           "with silenced_native_stderr():\n    os.write(2, b'native line')"],
                          capture_output=True, text=True, env={**os.environ, "TLCLINIC_VERBOSE": "1"})
    assert loud.stderr.endswith("native line")  # shown, after whatever TensorFlow said on import


def test_the_kernel_family_is_the_one_tensorflow_runs_when_nothing_chooses_it(monkeypatch):
    """Unset, TensorFlow picks oneDNN's kernels by CPU (and says so on import); the family that names the kept
    results and the calibration tables is that one, so the demo after `make e2e` (both under Eigen's kernels on
    a CPU that TensorFlow gives Eigen's) reuses what the tests computed."""
    import os
    import subprocess
    import sys

    import keras
    import pytest

    if keras.backend.backend() != "tensorflow":
        pytest.skip("TensorFlow's kernel families")
    env = {k: v for k, v in os.environ.items() if k not in ("TF_ENABLE_ONEDNN_OPTS", "TF_CPP_MIN_LOG_LEVEL",
                                                             "TLCLINIC_VERBOSE")}
    found = subprocess.run([sys.executable, "-c", "import tensorflow\nfrom tlclinic import device\n"
                            "print(device.kernel_family())"], capture_output=True, text=True, check=True, env=env)
    assert found.stdout.strip() == ("1" if "oneDNN custom operations are on" in found.stderr else "0"), found
    for chosen in ("0", "1"):
        monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", chosen)
        assert device.kernel_family() == chosen
