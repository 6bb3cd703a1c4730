"""Heads that compare two embeddings, a nearest-neighbour identity head, and the
tied-update gradient scaler."""

from zoo import backend  # noqa: F401

import keras
import numpy as np
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


@keras.saving.register_keras_serializable(package="zoo")
class NearestNeighbourHead(keras.layers.Layer):
    """1-NN identification over enrolled embeddings held as weights.

    Output [N, num_classes]: per class, with metric "cosine", the best cosine
    similarity between the input embedding and that class's enrolled
    embeddings (a class with no enrolled embedding scores below -3, below any
    cosine); with metric "euclidean", the smallest euclidean distance (an
    empty class scores above 1e4). The enrolled embeddings are non-trainable
    weights, so the head saves, reloads and exports to ONNX with the model.

    Args:
        num_classes: enrolled classes (people).
        gallery_size: enrolled embeddings in total.
        metric: "cosine" (higher = nearer; embeddings are L2-normalised) or
            "euclidean" (lower = nearer; embeddings as they are).
    """

    def __init__(self, num_classes, gallery_size, metric="cosine", **kwargs):
        super().__init__(**kwargs)
        self.num_classes, self.gallery_size = int(num_classes), int(gallery_size)
        if self.num_classes < 1 or self.gallery_size < 1:
            raise ValueError("num_classes and gallery_size must be positive. Received: "
                             f"num_classes={num_classes}, gallery_size={gallery_size}")
        if metric not in METRICS:
            raise ValueError(f"metric must be one of {METRICS}. Received: metric={metric!r}")
        self.metric = metric

    def build(self, input_shape):
        self.gallery = self.add_weight(shape=(self.gallery_size, int(input_shape[-1])),
                                       initializer="zeros", trainable=False, name="gallery")
        self.membership = self.add_weight(shape=(self.gallery_size, self.num_classes),
                                          initializer="zeros", trainable=False,
                                          name="membership")

    def enroll(self, embeddings, labels):
        """Store `embeddings` [gallery_size, D] of classes `labels` [gallery_size]."""
        embeddings = np.asarray(embeddings, np.float32)
        labels = np.asarray(labels)
        if embeddings.shape != tuple(self.gallery.shape) or labels.shape != embeddings.shape[:1]:
            raise ValueError(
                f"enroll needs embeddings of shape {tuple(self.gallery.shape)} and one label "
                f"each. Received: embeddings.shape={embeddings.shape}, labels.shape={labels.shape}")
        if labels.min() < 0 or labels.max() >= self.num_classes:
            raise ValueError(f"labels must be class ids in [0, {self.num_classes}). "
                             f"Received: min={labels.min()}, max={labels.max()}")
        if self.metric == "cosine":
            embeddings = embeddings / np.maximum(np.linalg.norm(embeddings, axis=1, keepdims=True), 1e-12)
        self.gallery.assign(embeddings)
        self.membership.assign(np.eye(self.num_classes, dtype=np.float32)[labels])

    def call(self, x):
        # New axes by expand_dims and plain broadcasting: indexing with None
        # (x[:, None]) exports to ONNX as Unsqueeze plus a no-op Slice
        # (0 to 1e9), which some runtimes (tract) refuse.
        if self.metric == "euclidean":
            # Differences, not |x|^2 - 2xg + |g|^2: that cancels to noise near a match.
            difference = ops.expand_dims(x, 1) - self.gallery  # [N, M, D]
            distance = ops.sqrt(ops.sum(difference * difference, axis=-1))  # [N, M]
            # Non-members rise by 1e4; the min then picks each class's nearest member.
            return ops.min(ops.expand_dims(distance, -1) + 1e4 * (1.0 - self.membership), axis=1)
        similarity = ops.matmul(l2_normalize(x), ops.transpose(self.gallery))  # [N, M]
        # Non-members drop by 4, below any cosine; the max then picks each
        # class's nearest member.
        masked = ops.expand_dims(similarity, -1) + 4.0 * (self.membership - 1.0)
        return ops.max(masked, axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.num_classes)

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes,
                "gallery_size": self.gallery_size, "metric": self.metric}


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
