"""Load any zoo `.keras` file: every custom class registered, `safe_mode=True`."""

from zoo import backend  # noqa: F401

import keras

import zoo.layers  # noqa: F401  (registers the custom layers)
import zoo.losses  # noqa: F401  (registers the custom losses)
from zoo import registry


def load_model(path):
    """`keras.saving.load_model(path, safe_mode=True)` with the zoo's classes known.

    Args:
        path: a `.keras` file.
    """
    for name in registry.names():
        # Importing each builder's module registers its custom models.
        registry.get(name).resolve_builder()
    return keras.saving.load_model(path, safe_mode=True)
