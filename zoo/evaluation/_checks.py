"""Input validation shared by `zoo.evaluation`: NumPy arrays in, clear errors out."""

import numpy as np

DIRECTIONS = ("greater", "less")
EVAL_DISTANCES = ("cosine", "euclidean")


def _short(x):
    return np.array2string(np.asarray(x).ravel()[:8], threshold=8)


def scores(x, name="scores"):
    """A finite, non-empty 1-D float64 array."""
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array of floats. "
                         f"Received: {name} with shape={arr.shape}")
    if not np.all(np.isfinite(arr)):
        bad = arr[~np.isfinite(arr)]
        raise ValueError(f"{name} must be finite; drop or repair the NaN/inf entries first. "
                         f"Received: {name} containing {_short(bad)} "
                         f"({bad.size} of {arr.size})")
    return arr


def binary_labels(x, n, name="labels", need_both=True):
    """A 1-D int array of length `n` with values in {0, 1} (1 = same / genuine)."""
    arr = np.asarray(x)
    if arr.ndim != 1 or arr.shape[0] != n:
        raise ValueError(f"{name} must be 1-D with one label per score ({n}). "
                         f"Received: {name} with shape={arr.shape}")
    if arr.dtype == bool:
        arr = arr.astype(np.int64)
    values = np.unique(arr)
    if not np.all(np.isin(values, (0, 1))):
        raise ValueError(f"{name} must be in {{0, 1}} with 1 = same identity; map them "
                         f"with labels = (id_a == id_b). Received: {name} values {_short(values)}")
    if need_both and values.size < 2:
        raise ValueError(f"{name} need both genuine (1) and impostor (0) pairs to define "
                         f"FAR and TAR. Received: {name} all equal to {int(values[0])}")
    return arr.astype(np.int64)


def direction(value):
    if value not in DIRECTIONS:
        raise ValueError(f"direction must be 'greater' (higher score = more similar) or "
                         f"'less' (e.g. a distance). Received: direction={value!r}")
    return value


def distance(value):
    if value not in EVAL_DISTANCES:
        raise ValueError(f"distance must be one of {EVAL_DISTANCES}. "
                         f"Received: distance={value!r}")
    return value


def embeddings(x, name="embeddings"):
    """A finite, non-empty 2-D float64 array [N, D]."""
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name} must be a non-empty 2-D array [N, D]. "
                         f"Received: {name} with shape={arr.shape}")
    if not np.all(np.isfinite(arr)):
        bad = int(np.sum(~np.isfinite(arr)))
        raise ValueError(f"{name} must be finite; check the model output for NaN/inf. "
                         f"Received: {name} with {bad} non-finite values")
    return arr


def class_labels(x, n, name="labels"):
    """A 1-D array of length `n` (any comparable dtype)."""
    arr = np.asarray(x)
    if arr.ndim != 1 or arr.shape[0] != n:
        raise ValueError(f"{name} must be 1-D with one label per embedding ({n}). "
                         f"Received: {name} with shape={arr.shape}")
    return arr


def labelled_sets(a, a_labels, b, b_labels, names):
    """Two labelled embedding sets of the same width, checked.

    Args:
        a, a_labels, b, b_labels: embeddings [N, D] / [M, D] and their labels.
        names: the two sets' names for messages, e.g. ("query", "gallery").

    Returns:
        (a, a_labels, b, b_labels) as arrays.
    """
    first, second = names
    a = embeddings(a, f"{first}_embeddings")
    b = embeddings(b, f"{second}_embeddings")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"{first} and {second} embeddings must have the same dimension. "
                         f"Received: {first} D={a.shape[1]}, {second} D={b.shape[1]}")
    return (a, class_labels(a_labels, a.shape[0], f"{first}_labels"),
            b, class_labels(b_labels, b.shape[0], f"{second}_labels"))
