"""Import this before Keras: the zoo runs on the TensorFlow backend."""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
if os.environ["KERAS_BACKEND"] != "tensorflow":
    raise RuntimeError(
        "The zoo needs the TensorFlow Keras backend (SavedModel and tf2onnx "
        f"export). Received: KERAS_BACKEND={os.environ['KERAS_BACKEND']!r}. "
        "Unset it or set it to 'tensorflow'."
    )
