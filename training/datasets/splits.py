"""Fixed, seeded, stratified splits (every class appears on both sides).

For splits where the classes themselves must not overlap (open-set
evaluation), use `zoo.training.samplers.identity_disjoint_split`.
"""

from __future__ import annotations

import numbers

import numpy as np


def stratified_split(labels: np.ndarray, held_out: int | float, seed: int = 0):
    """Hold out the same share of every class.

    Classes are visited in sorted order; each is permuted with one
    `np.random.default_rng(seed)`, and the first `n` of the permutation are
    held out.

    Args:
        labels: (N,) integer class labels.
        held_out: an int = images held out per class, or a float in (0, 1) =
            fraction of each class held out (rounded half up per class).
        seed: the split seed; the same seed always gives the same split.

    Returns:
        `(kept_idx, held_idx)`, int64 index arrays in ascending order that
        together cover `range(N)` exactly once.
    """
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.size == 0:
        raise ValueError(
            f"`labels` must be a non-empty 1-D array. Received: labels.shape={labels.shape}"
        )
    classes, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    if isinstance(held_out, numbers.Integral) and not isinstance(held_out, bool):
        n_held = np.full(len(classes), int(held_out))
        if held_out < 1 or held_out >= counts.min():
            raise ValueError(
                "An int `held_out` must be >= 1 and below the smallest class size "
                f"({counts.min()}), so every class keeps an image. Received: held_out={held_out!r}"
            )
    elif isinstance(held_out, numbers.Real) and 0 < held_out < 1:
        n_held = np.floor(counts * float(held_out) + 0.5).astype(np.int64)
    else:
        raise ValueError(
            "`held_out` must be an int count per class or a float fraction in (0, 1). "
            f"Received: held_out={held_out!r}"
        )
    if not isinstance(seed, numbers.Integral) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"`seed` must be an int >= 0 so the split is fixed. Received: seed={seed!r}")
    rng = np.random.default_rng(seed)
    order = np.argsort(inverse, kind="stable")
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    kept, held = [], []
    for start, count, n in zip(starts, counts, n_held):
        members = rng.permutation(order[start:start + count])
        held.append(members[:n])
        kept.append(members[n:])
    return np.sort(np.concatenate(kept)).astype(np.int64), np.sort(np.concatenate(held)).astype(np.int64)


def validation_split(images: np.ndarray, labels: np.ndarray, fraction: float = 0.1, seed: int = 0):
    """A fixed, seeded, stratified train/validation split of arrays.

    For the Fashion-MNIST 60k train set, `fraction=0.1` holds out exactly
    600 images of each class (6,000 in all). The test set is never touched.

    Args:
        images: (N, ...) array.
        labels: (N,) integer labels.
        fraction: share of each class moved to validation, in (0, 1).
        seed: the split seed.

    Returns:
        `((train_images, train_labels), (val_images, val_labels))`, both in
        the original order.
    """
    if len(images) != len(labels):
        raise ValueError(
            "`images` and `labels` must have the same length. "
            f"Received: len(images)={len(images)}, len(labels)={len(labels)}"
        )
    if isinstance(fraction, numbers.Integral):
        raise ValueError(f"`fraction` must be a float in (0, 1). Received: fraction={fraction!r}")
    train, val = stratified_split(labels, fraction, seed)
    return (images[train], labels[train]), (images[val], labels[val])
