"""Triplet loss with in-batch online mining over a P x K batch.

y_true = integer class labels [N] (or [N, 1]); y_pred = embeddings [N, D].
Triplets (a, p, n) come from the batch itself: p has a's label (p != a),
n has another label. Each triplet costs max(d(a, p) - d(a, n) + margin, 0).
"""

from zoo import backend  # noqa: F401

import keras
from keras import ops

from zoo.losses import distances as dist
from zoo.losses.replicas import gather_replicas, replica_share

MININGS = ("all", "hard", "semi_hard")
TRIPLET_DISTANCES = ("euclidean", "cosine")


def _batch_all(d, pos, neg, margin):
    # [a, p, n]: d(a, p) - d(a, n) + margin
    t = ops.relu(ops.expand_dims(d, 2) - ops.expand_dims(d, 1) + margin)
    valid = ops.logical_and(ops.expand_dims(pos, 2), ops.expand_dims(neg, 1))
    t = ops.where(valid, t, 0.0)
    return dist.safe_mean(ops.sum(t), dist.count(ops.greater(t, 0.0), d.dtype))


def _batch_hard(d, pos, neg, margin):
    hardest_pos = dist.masked_max(d, pos, axis=1)
    hardest_neg = dist.masked_min(d, neg, axis=1)
    valid = ops.logical_and(ops.any(pos, axis=1), ops.any(neg, axis=1))
    per_anchor = ops.where(valid, ops.relu(hardest_pos - hardest_neg + margin), 0.0)
    return dist.safe_mean(ops.sum(per_anchor), dist.count(valid, d.dtype))


def _semi_hard(d, pos, neg, margin):
    d_an = ops.expand_dims(d, 1)  # [a, 1, n]
    d_ap = ops.expand_dims(d, 2)  # [a, p, 1]
    farther = ops.logical_and(ops.expand_dims(neg, 1), ops.greater(d_an, d_ap))  # [a, p, n]
    # Closest negative farther than the positive; if none, the largest
    # negative distance, as TF-Addons' triplet_semihard_loss.
    closest_farther = dist.masked_min(ops.broadcast_to(d_an, ops.shape(farther)), farther, axis=2)
    largest = ops.expand_dims(dist.masked_max(d, neg, axis=1), 1)
    chosen = ops.where(ops.any(farther, axis=2), closest_farther, largest)
    valid = ops.logical_and(pos, ops.expand_dims(ops.any(neg, axis=1), 1))
    per_pair = ops.where(valid, ops.relu(d - chosen + margin), 0.0)
    return dist.safe_mean(ops.sum(per_pair), dist.count(valid, d.dtype))


def triplet_loss(labels, embeddings, margin=0.2, mining="all", distance="euclidean"):
    """Batch triplet loss with online mining; returns a scalar.

    mining:
        "all": batch-all (Hermans et al. 2017): the sum over every valid
            triplet divided by the number of triplets with loss > 0 (easy
            triplets would otherwise dilute the mean towards 0).
        "hard": batch-hard (Hermans et al. 2017): per anchor, its farthest
            positive against its closest negative; mean over anchors having
            both.
        "semi_hard": FaceNet (Schroff et al. 2015), as TF-Addons: per
            positive pair (a, p), the closest negative with d(a, n) > d(a, p)
            (within the margin if the loss is to be > 0); when none exists,
            the negative with the largest d(a, n). Mean over positive pairs
            whose anchor has a negative.

    Degenerate batches (one class, or no two samples sharing a label) have
    no valid triplet and give exactly 0.0 with zero gradient, never NaN:
    make sure the sampler yields P >= 2 classes and K >= 2 samples each.

    Args:
        labels: class ids [N] or [N, 1].
        embeddings: [N, D]; L2-normalise them for "euclidean" if the margin
            is meant on the unit sphere ("cosine" normalises itself).
        margin: >= 0.
        mining: "all", "hard" or "semi_hard".
        distance: "euclidean" (not squared, safe sqrt) or "cosine" (1 - cos).

    Memory: "all" and "semi_hard" build [N, N, N] tensors (N = 256 is
    64 MB in float32).
    """
    if mining not in MININGS:
        raise ValueError(f"mining must be one of {MININGS}. Received: mining={mining!r}")
    if distance not in TRIPLET_DISTANCES:
        raise ValueError(
            f"distance must be one of {TRIPLET_DISTANCES}. Received: distance={distance!r}"
        )
    embeddings = ops.convert_to_tensor(embeddings)
    labels = dist.flatten_labels(labels)
    d = dist.pairwise_distances(embeddings, distance=distance)
    pos = dist.positive_mask(labels)
    neg = dist.negative_mask(labels)
    mine = {"all": _batch_all, "hard": _batch_hard, "semi_hard": _semi_hard}[mining]
    return mine(d, pos, neg, ops.cast(margin, d.dtype))


@keras.saving.register_keras_serializable(package="zoo")
class TripletLoss(keras.losses.Loss):
    """Triplet loss with in-batch mining: y_true = class ids [N], y_pred = [N, D].

    The batch must hold several samples of several classes (a P x K batch).
    The loss is already a batch mean (see `triplet_loss`), so `reduction`
    leaves it unchanged and `sample_weight` only scales it by mean(weights).

    Args:
        margin: >= 0; 0.2 suits L2-normalised embeddings.
        mining: "all" (default: every triplet contributes; the most stable
            start), "hard" or "semi_hard".
        distance: "euclidean" or "cosine".
        global_batch: under `tf.distribute`, mine the whole global batch
            (every replica's rows, `zoo.losses.replicas`), as one device
            would; False mines each replica's slice alone. No effect on one
            device.
        reduction, name, dtype: as in `keras.losses.Loss`.
    """

    def __init__(self, margin=0.2, mining="all", distance="euclidean", global_batch=True,
                 reduction="sum_over_batch_size", name="triplet_loss", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        if not float(margin) >= 0.0:
            raise ValueError(f"margin must be >= 0. Received: margin={margin!r}")
        if mining not in MININGS:
            raise ValueError(f"mining must be one of {MININGS}. Received: mining={mining!r}")
        if distance not in TRIPLET_DISTANCES:
            raise ValueError(
                f"distance must be one of {TRIPLET_DISTANCES}. Received: distance={distance!r}"
            )
        self.margin = float(margin)
        self.mining = mining
        self.distance = distance
        self.global_batch = bool(global_batch)

    def call(self, y_true, y_pred):
        if self.global_batch:
            y_true, y_pred = gather_replicas(y_true, y_pred)
        return replica_share(triplet_loss(y_true, y_pred, margin=self.margin,
                                          mining=self.mining, distance=self.distance))

    def get_config(self):
        return {**super().get_config(), "dtype": self.dtype, "margin": self.margin,
                "mining": self.mining, "distance": self.distance,
                "global_batch": self.global_batch}
