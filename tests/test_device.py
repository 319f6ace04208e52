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
