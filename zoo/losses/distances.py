"""Pairwise distances and label masks shared by every loss in `zoo.losses`.

All functions are `keras.ops` code: they run eagerly, inside `fit` and in
exported graphs, and keep the dtype of their input (pass float64 for tight
comparisons against NumPy).

Conventions:
    - `labels` are class ids, shape [N] or [N, 1]; any numeric dtype.
    - Self-pairs (i, i) are never positives, and never negatives.
    - Pairwise distance matrices of one set (`y=None`) have an exact 0
      diagonal.
"""

from zoo import backend  # noqa: F401

from keras import ops

DISTANCES = ("euclidean", "squared_euclidean", "cosine")
_SQRT_EPS = 1e-12


def safe_sqrt(x, eps=_SQRT_EPS):
    """`sqrt(x)` whose gradient is 0 (not inf / NaN) where `x <= eps`.

    The double `where` keeps the unused branch away from sqrt(0), whose
    derivative is infinite and would turn the gradient into NaN.

    Args:
        x: a non-negative tensor, e.g. squared distances.
        eps: values at or below it give 0.
    """
    positive = ops.greater(x, eps)
    return ops.where(positive, ops.sqrt(ops.where(positive, x, ops.ones_like(x))), 0.0)


def safe_euclidean(a, b, axis=-1, keepdims=False):
    """Row-wise Euclidean distance `||a - b||` with a finite gradient at 0.

    Use it in the Siamese distance layer feeding `ContrastiveLoss`: two
    identical embeddings give d = 0 and a zero (finite) gradient.

    Args:
        a: embeddings [N, D].
        b: embeddings [N, D].
        axis: the feature axis.
        keepdims: keep the reduced axis (gives [N, 1]).
    """
    a = ops.convert_to_tensor(a)
    b = ops.convert_to_tensor(b, dtype=a.dtype)
    return safe_sqrt(ops.sum(ops.square(a - b), axis=axis, keepdims=keepdims))


def l2_normalize(x, axis=-1, eps=1e-12):
    """`x / ||x||` along `axis`; a zero row stays zero with a finite gradient."""
    x = ops.convert_to_tensor(x)
    sq = ops.sum(ops.square(x), axis=axis, keepdims=True)
    return x * ops.rsqrt(ops.maximum(sq, eps))


def _eye_mask(n):
    idx = ops.arange(n)
    return ops.equal(ops.expand_dims(idx, 1), ops.expand_dims(idx, 0))


def pairwise_squared_distances(x, y=None):
    """Squared Euclidean distances [N, M] between rows of `x` and `y`.

    Uses ||x||^2 + ||y||^2 - 2 x.y on inputs centred on the mean of `x` (less
    cancellation for embeddings far from the origin), clipped at 0.

    Args:
        x: [N, D].
        y: [M, D], or None for `x` against itself (exact 0 diagonal).
    """
    x = ops.convert_to_tensor(x)
    same = y is None
    y = x if same else ops.convert_to_tensor(y, dtype=x.dtype)
    # Distances are shift-invariant, so a constant (no-gradient) centre is exact.
    centre = ops.stop_gradient(ops.mean(x, axis=0, keepdims=True))
    x = x - centre
    y = y - centre
    xx = ops.sum(ops.square(x), axis=1, keepdims=True)
    yy = ops.sum(ops.square(y), axis=1, keepdims=True)
    sq = ops.maximum(xx + ops.transpose(yy) - 2.0 * ops.matmul(x, ops.transpose(y)), 0.0)
    if same:
        sq = ops.where(_eye_mask(ops.shape(x)[0]), 0.0, sq)
    return sq


def pairwise_euclidean_distances(x, y=None):
    """Euclidean distances [N, M]; the gradient is finite (0) at d = 0."""
    return safe_sqrt(pairwise_squared_distances(x, y))


def pairwise_cosine_distances(x, y=None):
    """Cosine distances `1 - cos` [N, M], in [0, 2].

    Rows are L2-normalised here (a no-op for already normalised inputs).

    Args:
        x: [N, D].
        y: [M, D], or None for `x` against itself (exact 0 diagonal).
    """
    x = l2_normalize(x)
    same = y is None
    y = x if same else l2_normalize(ops.convert_to_tensor(y, dtype=x.dtype))
    d = ops.clip(1.0 - ops.matmul(x, ops.transpose(y)), 0.0, 2.0)
    if same:
        d = ops.where(_eye_mask(ops.shape(x)[0]), 0.0, d)
    return d


def pairwise_distances(x, y=None, distance="euclidean"):
    """Pairwise distance matrix [N, M] by name.

    Args:
        x: [N, D].
        y: [M, D], or None for `x` against itself.
        distance: "euclidean", "squared_euclidean" or "cosine".
    """
    if distance == "euclidean":
        return pairwise_euclidean_distances(x, y)
    if distance == "squared_euclidean":
        return pairwise_squared_distances(x, y)
    if distance == "cosine":
        return pairwise_cosine_distances(x, y)
    raise ValueError(
        f"distance must be one of {DISTANCES}. Received: distance={distance!r}"
    )


def flatten_labels(labels):
    """Class labels as a rank-1 tensor [N]; accepts [N] or [N, 1].

    Raises:
        ValueError: for a static shape like [N, C] with C > 1 (one-hot).
    """
    labels = ops.convert_to_tensor(labels)
    shape = tuple(labels.shape)
    if len(shape) > 2 or (len(shape) == 2 and shape[1] not in (1, None)):
        raise ValueError(
            "labels must be integer class ids of shape [N] or [N, 1], not one-hot; "
            f"use argmax(labels, axis=-1) first. Received: labels.shape={shape}"
        )
    return ops.reshape(labels, (-1,))


def same_label_mask(labels):
    """[N, N] bool: labels[i] == labels[j], diagonal included."""
    labels = flatten_labels(labels)
    return ops.equal(ops.expand_dims(labels, 1), ops.expand_dims(labels, 0))


def positive_mask(labels):
    """[N, N] bool: same label and i != j (an anchor is never its own positive)."""
    labels = flatten_labels(labels)
    not_self = ops.logical_not(_eye_mask(ops.shape(labels)[0]))
    return ops.logical_and(same_label_mask(labels), not_self)


def negative_mask(labels):
    """[N, N] bool: different labels (so never i == j)."""
    return ops.logical_not(same_label_mask(labels))


def triplet_mask(labels):
    """[N, N, N] bool: (a, p, n) with p a positive and n a negative of a."""
    pos = positive_mask(labels)
    neg = negative_mask(labels)
    return ops.logical_and(ops.expand_dims(pos, 2), ops.expand_dims(neg, 1))


def masked_max(values, mask, axis=-1):
    """Max of `values` where `mask`; rows with no True give min(values)."""
    fill = ops.stop_gradient(ops.min(values))
    return ops.max(ops.where(mask, values, fill), axis=axis)


def masked_min(values, mask, axis=-1):
    """Min of `values` where `mask`; rows with no True give max(values)."""
    fill = ops.stop_gradient(ops.max(values))
    return ops.min(ops.where(mask, values, fill), axis=axis)


def count(mask, dtype):
    """Number of True entries of `mask`, as `dtype`."""
    return ops.sum(ops.cast(mask, dtype))


def safe_mean(total, n):
    """`total / n`, or 0 when n == 0 (a batch with nothing to average)."""
    return total / ops.maximum(n, 1.0)
