"""Heads that compare two embeddings, and the tied-update gradient scaler."""

from zoo import backend  # noqa: F401

import keras
import tensorflow as tf
from keras import ops

from zoo.losses.distances import l2_normalize, safe_euclidean

METRICS = ("euclidean", "cosine")


@keras.saving.register_keras_serializable(package="zoo")
class L2Normalize(keras.layers.Layer):
    """Scales each vector to unit L2 norm along `axis`.

    Args:
        axis: the axis to normalise.
    """

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = int(axis)

    def call(self, x):
        return l2_normalize(x, axis=self.axis)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


@keras.saving.register_keras_serializable(package="zoo")
class PairDistance(keras.layers.Layer):
    """The score of a pair of embeddings `[a, b]`, shape [N, 1].

    "euclidean": ||a - b||, with a gradient that stays finite at a == b (a
    distance: lower means more alike). "cosine": cos(a, b) in [-1, 1] (a
    similarity: higher means more alike).

    Args:
        metric: "euclidean" or "cosine".
    """

    def __init__(self, metric="euclidean", **kwargs):
        super().__init__(**kwargs)
        if metric not in METRICS:
            raise ValueError(f"metric must be one of {METRICS}. Received: metric={metric!r}")
        self.metric = metric

    def call(self, inputs):
        a, b = _pair(inputs, self.name)
        if self.metric == "euclidean":
            return safe_euclidean(a, b, keepdims=True)
        return ops.sum(l2_normalize(a) * l2_normalize(b), axis=-1, keepdims=True)

    def compute_output_shape(self, input_shape):
        return (input_shape[0][0], 1)

    def get_config(self):
        return {**super().get_config(), "metric": self.metric}


@keras.saving.register_keras_serializable(package="zoo")
class PairFeatures(keras.layers.Layer):
    """Symmetric pair features `concat(|a - b|, a * b)`, shape [N, 2D]: the
    input of an MLP match head (verification approach 1a/1b)."""

    def call(self, inputs):
        a, b = _pair(inputs, self.name)
        return ops.concatenate([ops.abs(a - b), a * b], axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[0][:-1], 2 * input_shape[0][-1])


@keras.saving.register_keras_serializable(package="zoo")
class ScaleGradient(keras.layers.Layer):
    """Identity forward; multiplies the gradient flowing back by `factor`.

    With `factor=0.5` after both branches of tied towers, the shared weights
    get (grad_a + grad_b) / 2, the lecture's (x + y) / 2 update.

    Args:
        factor: the gradient multiplier.
    """

    def __init__(self, factor=1.0, **kwargs):
        super().__init__(**kwargs)
        self.factor = float(factor)

    def call(self, x):
        return _scale_gradient(x, self.factor)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


def _scale_gradient(x, factor):
    # stop_gradient splits the value from its gradient path: the forward
    # value is x, the backward pass sees factor * x.
    scaled = x * factor
    return scaled + tf.stop_gradient(x - scaled)


def _pair(inputs, name):
    if not isinstance(inputs, (list, tuple)) or len(inputs) != 2:
        raise ValueError(f"Layer {name!r} takes a pair [a, b]. Received: inputs={inputs!r}")
    a, b = inputs
    if tuple(a.shape[1:]) != tuple(b.shape[1:]):
        raise ValueError(
            f"Layer {name!r} needs a and b of the same shape. "
            f"Received: a.shape={tuple(a.shape)}, b.shape={tuple(b.shape)}"
        )
    return a, b
