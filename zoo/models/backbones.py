"""Small fully convolutional CNN backbones (feature extractors)."""

from zoo import backend  # noqa: F401

import keras
from keras import layers


def conv_backbone(input_shape=(28, 28, 1), widths=(32, 64, 128), name="backbone",
                  bn_momentum=0.99):
    """A stack of conv blocks with global average pooling.

    Each block is Conv-BN-ReLU, Conv-BN-ReLU, then 2x2 max pooling (except the
    last). Being fully convolutional, the same weights accept any image size
    from 28x28 up; pass `input_shape=(None, None, 1)` for a size-free model.

    Args:
        input_shape: (H, W, C) of the float32 input in [0, 1].
        widths: filters per block; one block per entry.
        name: the model name.
        bn_momentum: BatchNorm moving-average momentum; 0.9 lets the
            statistics settle within a few hundred steps (short runs).

    Returns:
        A functional `keras.Model` from `image` to a [N, widths[-1]] feature.
    """
    if len(input_shape) != 3:
        raise ValueError(f"input_shape must be (H, W, C). Received: input_shape={input_shape}")
    if not widths or any(int(w) <= 0 for w in widths):
        raise ValueError(f"widths must be positive ints. Received: widths={widths}")
    image = keras.Input(shape=tuple(input_shape), name="image")
    x = image
    for i, width in enumerate(widths):
        for j in range(2):
            x = layers.Conv2D(int(width), 3, padding="same", use_bias=False,
                              name=f"block{i}_conv{j}")(x)
            x = layers.BatchNormalization(momentum=bn_momentum, name=f"block{i}_bn{j}")(x)
            x = layers.ReLU(name=f"block{i}_relu{j}")(x)
        if i < len(widths) - 1:
            x = layers.MaxPooling2D(2, name=f"block{i}_pool")(x)
    features = layers.GlobalAveragePooling2D(name="pool")(x)
    return keras.Model(image, features, name=name)
