"""Transfer-Learning Clinic: the package every lesson notebook imports."""
from .console import quiet_native_info as _quiet_native_info, silenced_native_stderr as _silenced_native_stderr

__version__ = "0.1.0"

_quiet_native_info()  # before TensorFlow loads: the INFO lines it logs once it runs are not for the reader either
with _silenced_native_stderr():  # TensorFlow's start-up lines are not for the reader (TLCLINIC_VERBOSE=1 shows them)
    import importlib.util
    import os

    import keras

    # TensorFlow loads on every backend where it is installed: keras.utils.set_random_seed seeds it too, and the
    # image folders are read by keras.utils.image_dataset_from_directory (tf.data).  Loaded here, its lines go
    # unseen; its first look for a GPU logs "failed call to cuInit" without one.  The grader's sandbox, which
    # only builds an answer (on Keras's NumPy backend) and prints nothing a person reads, sets
    # TLCLINIC_WITHOUT_TENSORFLOW=1.
    if importlib.util.find_spec("tensorflow") and not os.environ.get("TLCLINIC_WITHOUT_TENSORFLOW"):
        import tensorflow

        tensorflow.config.list_physical_devices("GPU")
