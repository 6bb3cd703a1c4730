"""Import this before Keras: the zoo runs on the TensorFlow backend.

Unless `ZOO_DEBUG` is set, TensorFlow's and absl's start-up log lines (the
oneDNN and CPU-feature notes, which absl prints to fd 2 before any log level
applies) are silenced, so that a command's stderr holds only its own errors.
"""

import contextlib
import importlib.util
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
if os.environ["KERAS_BACKEND"] != "tensorflow":
    raise RuntimeError(
        "The zoo needs the TensorFlow Keras backend (SavedModel and tf2onnx "
        f"export). Received: KERAS_BACKEND={os.environ['KERAS_BACKEND']!r}. "
        "Unset it or set it to 'tensorflow'."
    )
if importlib.util.find_spec("tensorflow") is None:
    raise ModuleNotFoundError(
        "This needs TensorFlow, which the plain install leaves out (it serves the ONNX "
        "runtime only). Install one of the extras: pip install 'repr-zoo[cpu]' "
        "(or 'repr-zoo[gpu]' for NVIDIA GPUs).", name="tensorflow")


@contextlib.contextmanager
def _quiet_fd2():
    """Point file descriptor 2 at /dev/null for the block (C++ writes there)."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


if not os.environ.get("ZOO_DEBUG"):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if "tensorflow" not in sys.modules:
        with _quiet_fd2():
            import tensorflow  # noqa: F401
else:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "0")
