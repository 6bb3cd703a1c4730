"""scikit-learn's 8x8 handwritten digits (UCI optdigits test set, 1797 images)."""

from __future__ import annotations

import numpy as np


def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """Load the digits, rescaled to the uint8 range of the other loaders.

    The source pixels are counts 0..16 (ink bright); they are mapped with
    `round(v * 255 / 16)`, so 0 -> 0, 8 -> 128 and 16 -> 255.

    Returns:
        `(images, labels)`: uint8 (1797, 8, 8) and int64 (1797,) in 0..9.
    """
    from sklearn.datasets import load_digits as sklearn_load_digits

    bunch = sklearn_load_digits()
    images = np.rint(bunch.images * (255 / 16)).astype(np.uint8)
    return images, bunch.target.astype(np.int64)
