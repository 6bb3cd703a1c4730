"""A few real images of any zoo dataset, shaped for a model's input."""

from functools import partial

import numpy as np

from zoo.training.datasets.digits import load_digits
from zoo.training.datasets.fashion_mnist import load_fashion_mnist
from zoo.training.datasets.images import resize, to_float
from zoo.training.datasets.omniglot import load_omniglot
from zoo.training.datasets.orl_faces import load_orl_faces

_LOADERS = {
    "fashion_mnist": partial(load_fashion_mnist, "test"),
    "orl_faces": load_orl_faces,
    "omniglot": partial(load_omniglot, "evaluation"),
    "digits": load_digits,
}


def sample_images(dataset, n, input_shape) -> np.ndarray:
    """`n` images of `dataset`, evenly spread over it, as float32 model input.

    Args:
        dataset: one of "fashion_mnist", "orl_faces", "omniglot", "digits".
        n: number of images.
        input_shape: the model's (H, W, C); images are resized to (H, W) and
            repeated to C channels. None returns the dataset's own uint8 images.
    """
    if dataset not in _LOADERS:
        raise ValueError(f"Unknown dataset. Expected one of {sorted(_LOADERS)}. "
                         f"Received: dataset={dataset!r}")
    images, _ = _LOADERS[dataset]()
    picked = images[np.linspace(0, len(images) - 1, n).astype(int)]
    if input_shape is None:
        return picked
    height, width, channels = input_shape
    if picked.shape[1:] != (height, width):
        picked = resize(picked, (height, width))
    x = to_float(picked)
    return np.repeat(x, channels, axis=-1) if channels > 1 else x
