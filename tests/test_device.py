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


def test_a_fresh_python_that_imports_the_workbook_prints_no_start_up_noise():
    """TensorFlow's native lines (oneDNN, cudart_stub, cuInit, absl) go nowhere, unless TLCLINIC_VERBOSE asks."""
    import os
    import subprocess
    import sys

    code = "from tlclinic import device; device.report()"
    quiet = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={k: v for k, v in os.environ.items() if k != "TLCLINIC_VERBOSE"})
    assert quiet.stderr == "" and "keras" in quiet.stdout
    loud = subprocess.run([sys.executable, "-c", "import os; from tlclinic.console import silenced_native_stderr\n"
                           "with silenced_native_stderr():\n    os.write(2, b'native line')"],
                          capture_output=True, text=True, env={**os.environ, "TLCLINIC_VERBOSE": "1"})
    assert loud.stderr.endswith("native line")  # shown, after whatever TensorFlow said on import
