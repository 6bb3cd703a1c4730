"""Backbones (feature extractors): small fully convolutional CNNs, and a
wrapper around `keras.applications` for ImageNet-pretrained networks."""

from zoo import backend  # noqa: F401

import keras
from keras import layers

# The small-CNN family, by name; each accepts any grayscale size from 28x28
# to 112x92 (and larger) with the same weights.
CNN_WIDTHS = {
    "cnn_xs": (16, 32, 64, 64),
    "cnn_s": (32, 64, 128),
    "cnn_m": (32, 64, 128, 256),
}
# keras.applications networks that rescale their own [0, 255] RGB input.
APPLICATIONS = ("MobileNetV3Small", "MobileNetV3Large", "EfficientNetB0")


def conv_backbone(input_shape=(28, 28, 1), widths=(32, 64, 128), name="backbone",
                  bn_momentum=0.99):
    """A stack of conv blocks with global average pooling.

    Each block is Conv-BN-ReLU, Conv-BN-ReLU, then 2x2 max pooling (except the
    last). Being fully convolutional, the same weights accept any image size
    from 28x28 up; pass `input_shape=(None, None, 1)` for a size-free model.

    Args:
        input_shape: (H, W, C) of the float32 input in [0, 1].
        widths: filters per block, one block per entry, or a family name
            from `CNN_WIDTHS` (e.g. "cnn_xs").
        name: the model name.
        bn_momentum: BatchNorm moving-average momentum; 0.9 lets the
            statistics settle within a few hundred steps (short runs).

    Returns:
        A functional `keras.Model` from `image` to a [N, widths[-1]] feature.
    """
    if isinstance(widths, str):
        if widths not in CNN_WIDTHS:
            raise ValueError(f"Unknown CNN family. Expected one of {sorted(CNN_WIDTHS)}. "
                             f"Received: widths={widths!r}")
        widths = CNN_WIDTHS[widths]
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


@keras.saving.register_keras_serializable(package="zoo")
class GrayscaleToRGB(layers.Layer):
    """Repeats a 1-channel image to 3 channels and scales it.

    Args:
        scale: multiplies the pixels; 255 turns [0, 1] inputs into the [0, 255]
            range that `keras.applications` networks rescale themselves.
    """

    def __init__(self, scale=255.0, **kwargs):
        super().__init__(**kwargs)
        self.scale = float(scale)

    def call(self, x):
        if x.shape[-1] == 1:
            x = keras.ops.repeat(x, 3, axis=-1)
        return x * self.scale

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], 3)

    def get_config(self):
        return {**super().get_config(), "scale": self.scale}


def applications_backbone(input_shape=(112, 92, 1), architecture="MobileNetV3Small",
                          weights=None, name="backbone"):
    """A `keras.applications` network as a grayscale backbone with global pooling.

    A grayscale image in [0, 1] is repeated to RGB and scaled to [0, 255]; the
    network then applies its own ImageNet preprocessing.

    Args:
        input_shape: (H, W, 1) or (H, W, 3) of the float32 input in [0, 1];
            H and W must be >= 32.
        architecture: one of `APPLICATIONS`.
        weights: None (random), "imagenet" (downloaded by Keras, online
            users), or the path of a weights file for the headless network.
        name: the model name.

    Returns:
        A functional `keras.Model` from `image` to a [N, F] feature.
    """
    if architecture not in APPLICATIONS:
        raise ValueError(f"Unknown architecture. Expected one of {APPLICATIONS}. "
                         f"Received: architecture={architecture!r}")
    if len(input_shape) != 3 or input_shape[-1] not in (1, 3) or min(input_shape[:2]) < 32:
        raise ValueError("input_shape must be (H, W, 1 or 3) with H, W >= 32. "
                         f"Received: input_shape={input_shape}")
    network = getattr(keras.applications, architecture)(
        input_shape=(*input_shape[:2], 3), include_top=False, weights=weights, pooling="avg")
    image = keras.Input(shape=tuple(input_shape), name="image")
    features = network(GrayscaleToRGB(name="to_rgb")(image))
    return keras.Model(image, features, name=name)
