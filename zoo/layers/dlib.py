"""The two dlib layers Keras lacks, for ported dlib networks (`zoo.models.face_resnet`)."""

from zoo import backend  # noqa: F401

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="zoo")
class ChannelAffine(keras.layers.Layer):
    """dlib's `affine` layer: `x * gamma + beta` per channel (a frozen batch norm).

    Args:
        gamma_initializer, beta_initializer: initial scale (ones) and shift (zeros).
    """

    def __init__(self, gamma_initializer="ones", beta_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        self.gamma_initializer = keras.initializers.get(gamma_initializer)
        self.beta_initializer = keras.initializers.get(beta_initializer)

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None:
            raise ValueError(f"ChannelAffine needs a known channel count. Received: input_shape={input_shape}")
        self.gamma = self.add_weight(shape=(channels,), initializer=self.gamma_initializer, name="gamma")
        self.beta = self.add_weight(shape=(channels,), initializer=self.beta_initializer, name="beta")

    def call(self, x):
        return x * self.gamma + self.beta

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(),
                "gamma_initializer": keras.initializers.serialize(self.gamma_initializer),
                "beta_initializer": keras.initializers.serialize(self.beta_initializer)}


@keras.saving.register_keras_serializable(package="zoo")
class ZeroExtendAdd(keras.layers.Layer):
    """dlib's `add_prev`: the sum of two NHWC tensors of possibly different shapes.

    The result has the larger height, width and channels of the two; each input is
    zero-extended at the bottom, right and last channels (as dlib's `tt::add`).
    Shapes must be static.
    """

    def call(self, inputs):
        a, b = inputs
        target = self.compute_output_shape([a.shape, b.shape])
        return _extend(a, target) + _extend(b, target)

    def compute_output_shape(self, input_shapes):
        a, b = input_shapes
        for shape in (a, b):
            if any(d is None for d in shape[1:]):
                raise ValueError(f"ZeroExtendAdd needs static shapes. Received: {list(input_shapes)}")
        return (a[0], *(max(x, y) for x, y in zip(a[1:], b[1:])))


def _extend(x, target):
    pad = [[0, 0]] + [[0, t - s] for s, t in zip(x.shape[1:], target[1:])]
    return ops.pad(x, pad) if any(p[1] for p in pad) else x
