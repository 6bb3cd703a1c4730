"""Seeded samplers over label arrays: pairs, triplets, P x K batches, splits.

Every sampler takes `labels` and returns int64 index arrays, so it is cheap
to test and works for any dataset. A run draws fresh but reproducible
samples per epoch by passing `epoch`: the generator is
`np.random.default_rng([seed, epoch])`. Splits take no `epoch`: a split must
stay the same for the whole run. `pairs_dataset` and `pk_dataset` wrap the
samplers in `tf.data` (TensorFlow is imported only there).

Pair convention: `same = 1` means both images show the same class.
"""

from __future__ import annotations

import numbers
from typing import Sequence

import numpy as np


class _Groups:
    """Labels grouped by class: `order[starts[c]:starts[c] + counts[c]]` is class c."""

    def __init__(self, labels):
        labels = np.asarray(labels)
        if labels.ndim != 1 or labels.size == 0:
            raise ValueError(
                f"`labels` must be a non-empty 1-D array. Received: labels.shape={labels.shape}"
            )
        self.classes, self.inverse, self.counts = np.unique(
            labels, return_inverse=True, return_counts=True
        )
        self.order = np.argsort(self.inverse, kind="stable")
        self.starts = np.concatenate([[0], np.cumsum(self.counts)[:-1]])
        self.rank = np.empty(labels.size, np.int64)
        self.rank[self.order] = np.arange(labels.size) - self.starts[self.inverse[self.order]]

    def require_pairs(self):
        if len(self.classes) < 2:
            raise ValueError(
                "`labels` must hold at least 2 classes to draw different-class samples. "
                f"Received: classes={self.classes.tolist()}"
            )
        single = self.classes[self.counts < 2]
        if single.size:
            raise ValueError(
                "Every class needs at least 2 samples to draw same-class pairs; drop the "
                "others first, e.g. `np.isin(labels, classes_with_2_or_more)`. Received: "
                f"{single.size} single-sample classes, e.g. {single[:5].tolist()}"
            )
        return self

    def same_class(self, anchors, rng):
        """A uniformly drawn other sample of each anchor's class."""
        c = self.inverse[anchors]
        r = rng.integers(0, self.counts[c] - 1)
        r += r >= self.rank[anchors]
        return self.order[self.starts[c] + r]

    def other_class(self, anchors, rng):
        """A uniformly drawn sample of any other class."""
        c = self.inverse[anchors]
        j = rng.integers(0, self.inverse.size - self.counts[c])
        return self.order[np.where(j < self.starts[c], j, j + self.counts[c])]


def _rng(seed, epoch) -> np.random.Generator:
    for name, value in (("seed", seed), ("epoch", epoch)):
        if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 0:
            raise ValueError(f"`{name}` must be an int >= 0. Received: {name}={value!r}")
    return np.random.default_rng([int(seed), int(epoch)])


def _count(name, value, minimum=1):
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"`{name}` must be an int >= {minimum}. Received: {name}={value!r}")
    return int(value)


def balanced_pairs(labels, n_pairs: int, seed: int = 0, epoch: int = 0):
    """Exactly half same-class and half different-class pairs, shuffled.

    The first image of each pair is uniform over all samples; the second is
    uniform over the other samples of its class (positives) or over all
    samples of other classes (negatives).

    Args:
        labels: (N,) class labels, at least 2 classes of at least 2 samples.
        n_pairs: total pairs, even and >= 2.
        seed: base seed.
        epoch: mixed into the seed for a fresh draw per epoch.

    Returns:
        `(idx_a, idx_b, same)`: int64 (n_pairs,) each; `same` is 1 when
        `labels[idx_a] == labels[idx_b]` (and then `idx_a != idx_b`), else 0.
    """
    n_pairs = _count("n_pairs", n_pairs, 2)
    if n_pairs % 2:
        raise ValueError(f"`n_pairs` must be even so half can be positive. Received: n_pairs={n_pairs}")
    groups = _Groups(labels).require_pairs()
    rng = _rng(seed, epoch)
    same = rng.permutation(np.repeat(np.array([1, 0], np.int64), n_pairs // 2))
    idx_a = rng.integers(0, groups.inverse.size, n_pairs)
    idx_b = np.empty_like(idx_a)
    pos = same == 1
    idx_b[pos] = groups.same_class(idx_a[pos], rng)
    idx_b[~pos] = groups.other_class(idx_a[~pos], rng)
    return idx_a, idx_b, same


def triplets(labels, n: int, seed: int = 0, epoch: int = 0):
    """Random (anchor, positive, negative) triplets.

    Args:
        labels: (N,) class labels, at least 2 classes of at least 2 samples.
        n: number of triplets.
        seed: base seed.
        epoch: mixed into the seed for a fresh draw per epoch.

    Returns:
        `(anchor, positive, negative)`: int64 (n,) each; the anchor is uniform
        over samples, the positive another sample of its class, the
        negative a sample of another class.
    """
    n = _count("n", n)
    groups = _Groups(labels).require_pairs()
    rng = _rng(seed, epoch)
    anchor = rng.integers(0, groups.inverse.size, n)
    return anchor, groups.same_class(anchor, rng), groups.other_class(anchor, rng)


def pk_batches(labels, p: int, k: int, n_batches: int, seed: int = 0, epoch: int = 0):
    """P x K batches: P distinct classes, K samples of each.

    Each batch draws P classes uniformly without replacement. Within a
    class, K samples are drawn without replacement when the class has at
    least K samples, otherwise with replacement (so small classes repeat
    images rather than being skipped).

    Args:
        labels: (N,) class labels with at least P classes.
        p: classes per batch.
        k: samples per class.
        n_batches: number of batches.
        seed: base seed.
        epoch: mixed into the seed for a fresh draw per epoch.

    Returns:
        int64 (n_batches, p * k); in each row, entries `j*k .. j*k + k - 1`
        are the K samples of the j-th class.
    """
    groups = _Groups(labels)
    n_classes = len(groups.classes)
    p, k, n_batches = _count("p", p), _count("k", k), _count("n_batches", n_batches)
    if p > n_classes:
        raise ValueError(
            f"`p` cannot exceed the number of classes ({n_classes}); lower `p`. Received: p={p}"
        )
    rng = _rng(seed, epoch)
    out = np.empty((n_batches, p, k), np.int64)
    for b in range(n_batches):
        for j, c in enumerate(rng.choice(n_classes, p, replace=False)):
            ranks = rng.choice(groups.counts[c], k, replace=bool(groups.counts[c] < k))
            out[b, j] = groups.order[groups.starts[c] + ranks]
    return out.reshape(n_batches, p * k)


def identity_disjoint_split(labels, parts: Sequence[float] | Sequence[int], seed: int = 0):
    """Split samples so that no class appears in two parts (open-set evaluation).

    Classes are shuffled with `np.random.default_rng(seed)` and cut in order.

    Args:
        labels: (N,) class labels.
        parts: fractions summing to 1, e.g. `(0.8, 0.2)` (each part gets
            `fraction * n_classes` classes, largest remainder rounding, at
            least 1), or class counts summing to the number of classes,
            e.g. `(30, 10)`.
        seed: the split seed.

    Returns:
        A tuple with one int64 index array per part, ascending. Class sets
        are pairwise disjoint, and the parts cover every sample exactly once.
    """
    groups = _Groups(labels)
    n_classes = len(groups.classes)
    sizes = _part_sizes(parts, n_classes)
    cut = np.cumsum(sizes)[:-1]
    part_of_class = np.empty(n_classes, np.int64)
    for i, members in enumerate(np.split(_rng(seed, 0).permutation(n_classes), cut)):
        part_of_class[members] = i
    part = part_of_class[groups.inverse]
    return tuple(np.flatnonzero(part == i).astype(np.int64) for i in range(len(sizes)))


def _part_sizes(parts, n_classes: int) -> np.ndarray:
    parts = list(parts)
    ints = all(isinstance(x, numbers.Integral) and not isinstance(x, bool) for x in parts)
    if len(parts) < 2 or not all(isinstance(x, numbers.Real) for x in parts):
        raise ValueError(f"`parts` must list at least 2 numbers. Received: parts={parts!r}")
    if ints:
        sizes = np.array(parts, np.int64)
        if sizes.min() < 1 or sizes.sum() != n_classes:
            raise ValueError(
                f"Class counts in `parts` must be >= 1 and sum to the {n_classes} classes. "
                f"Received: parts={parts!r}"
            )
        return sizes
    fractions = np.array(parts, np.float64)
    if fractions.min() <= 0 or not np.isclose(fractions.sum(), 1.0):
        raise ValueError(f"Fractions in `parts` must be > 0 and sum to 1. Received: parts={parts!r}")
    exact = fractions * n_classes
    sizes = np.floor(exact).astype(np.int64)
    sizes[np.argsort(sizes - exact, kind="stable")[: n_classes - sizes.sum()]] += 1
    if sizes.min() < 1:
        raise ValueError(
            f"With {n_classes} classes, a part of `parts` would get no class; use larger "
            f"fractions or class counts. Received: parts={parts!r}"
        )
    return sizes


def pairs_dataset(images, labels, n_pairs: int, seed: int = 0, batch_size: int = 32, epoch: int = 0):
    """`balanced_pairs` as a `tf.data.Dataset` for a two-input verification model.

    Args:
        images: (N, H, W) uint8 (scaled like `to_float`) or float images.
        labels: (N,) class labels.
        n_pairs, seed, epoch: as in `balanced_pairs`.
        batch_size: pairs per batch (the last batch may be smaller).

    Returns:
        A dataset of `({"image_a": x_a, "image_b": x_b}, same)` batches;
        images float32 (B, H, W, C), `same` float32 (B,), 1.0 = same class.
    """
    import tensorflow as tf

    _check_lengths(images, labels)
    idx_a, idx_b, same = balanced_pairs(labels, n_pairs, seed, epoch)
    x = tf.constant(images)
    ds = tf.data.Dataset.from_tensor_slices((idx_a, idx_b, same.astype(np.float32)))
    ds = ds.batch(_count("batch_size", batch_size)).map(
        lambda a, b, s: ({"image_a": _model_input(tf.gather(x, a)),
                          "image_b": _model_input(tf.gather(x, b))}, s)
    )
    return ds.prefetch(tf.data.AUTOTUNE)


def pk_dataset(images, labels, p: int, k: int, steps: int, seed: int = 0, epoch: int = 0):
    """`pk_batches` as a `tf.data.Dataset` of `steps` batches of P * K.

    Args:
        images: (N, H, W) uint8 (scaled like `to_float`) or float images.
        labels: (N,) class labels.
        p, k, seed, epoch: as in `pk_batches`.
        steps: number of batches.

    Returns:
        A dataset of `(x, y)`: float32 (P*K, H, W, C) and the labels (P*K,).
    """
    import tensorflow as tf

    _check_lengths(images, labels)
    batches = pk_batches(labels, p, k, steps, seed, epoch)
    x, y = tf.constant(images), tf.constant(np.asarray(labels))
    ds = tf.data.Dataset.from_tensor_slices(batches)
    ds = ds.map(lambda i: (_model_input(tf.gather(x, i)), tf.gather(y, i)))
    return ds.prefetch(tf.data.AUTOTUNE)


def _check_lengths(images, labels):
    if len(images) != len(labels):
        raise ValueError(
            "`images` and `labels` must have the same length. "
            f"Received: len(images)={len(images)}, len(labels)={len(labels)}"
        )


def _model_input(x):
    import tensorflow as tf

    from zoo.training.datasets.pipeline import tf_to_float

    if x.dtype == tf.uint8:
        return tf_to_float(x)
    x = tf.cast(x, tf.float32)
    return x[..., None] if x.shape.rank == 3 else x
