"""In-batch listwise ranking loss: supervised contrastive loss (Khosla et al.
2020, "Supervised Contrastive Learning", the L_out form).

y_true = integer class labels [N]; y_pred = embeddings [N, D], L2-normalised
inside the loss. Every query i must rank each of its positives above all
other items of the batch:

    L = mean over queries i with a positive and a negative of
        -1/|P(i)| sum_{p in P(i)} log( exp(z_i.z_p / t) / sum_{a != i} exp(z_i.z_a / t) )

P(i) = the other items with i's label; self-pairs are in neither the
numerator nor the denominator. Queries without a positive or without a
negative are left out (see `ranking_loss`).
"""

from zoo import backend  # noqa: F401

import keras
from keras import ops

from zoo.losses import distances as dist
from zoo.losses.replicas import gather_replicas, replica_share


def ranking_loss(labels, embeddings, temperature=0.1):
    """Supervised contrastive loss (L_out); returns a scalar.

    Queries with nothing to rank are left out of the mean: those without a
    positive, and (only in a one-class batch) those without a negative,
    where L_out has no negative to rank the positives above. A batch with
    no query left (all singletons, or one class) gives exactly 0.0 with zero
    gradient. The reference code's extra factor
    temperature / base_temperature is not applied.

    Args:
        labels: class ids [N] or [N, 1].
        embeddings: [N, D].
        temperature: > 0; smaller sharpens the softmax over the batch.
    """
    z = dist.l2_normalize(ops.convert_to_tensor(embeddings))
    labels = dist.flatten_labels(labels)
    n = ops.shape(z)[0]
    logits = ops.matmul(z, ops.transpose(z)) / ops.cast(temperature, z.dtype)
    logits = logits - ops.stop_gradient(ops.max(logits, axis=1, keepdims=True))
    idx = ops.arange(n)
    is_self = ops.equal(ops.expand_dims(idx, 1), ops.expand_dims(idx, 0))
    # A large finite value instead of -inf keeps a 1-item batch finite.
    others = ops.where(is_self, ops.cast(-1e9, z.dtype), logits)
    log_prob = logits - ops.logsumexp(others, axis=1, keepdims=True)
    pos = dist.positive_mask(labels)
    n_pos = ops.sum(ops.cast(pos, z.dtype), axis=1)
    per_query = -ops.sum(ops.where(pos, log_prob, 0.0), axis=1) / ops.maximum(n_pos, 1.0)
    ranked = ops.logical_and(ops.greater(n_pos, 0.0), ops.any(dist.negative_mask(labels), axis=1))
    per_query = ops.where(ranked, per_query, 0.0)
    return dist.safe_mean(ops.sum(per_query), dist.count(ranked, z.dtype))


@keras.saving.register_keras_serializable(package="zoo")
class RankingLoss(keras.losses.Loss):
    """Supervised contrastive ranking loss: y_true = class ids [N], y_pred = [N, D].

    Args:
        temperature: > 0; smaller sharpens the softmax over the batch.
        global_batch: under `tf.distribute`, rank against the whole global
            batch (every replica's rows, `zoo.losses.replicas`), as one
            device would; False uses each replica's slice alone. No effect
            on one device.
        reduction, name, dtype: as in `keras.losses.Loss`; the loss is a
            batch mean already.
    """

    def __init__(self, temperature=0.1, global_batch=True, reduction="sum_over_batch_size",
                 name="ranking_loss", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        if not float(temperature) > 0.0:
            raise ValueError(f"temperature must be > 0. Received: temperature={temperature!r}")
        self.temperature = float(temperature)
        self.global_batch = bool(global_batch)

    def call(self, y_true, y_pred):
        if self.global_batch:
            y_true, y_pred = gather_replicas(y_true, y_pred)
        return replica_share(ranking_loss(y_true, y_pred, temperature=self.temperature))

    def get_config(self):
        return {**super().get_config(), "dtype": self.dtype, "temperature": self.temperature,
                "global_batch": self.global_batch}


def cross_domain_ranking_loss(y_true, y_pred, temperature=0.1):
    """`ranking_loss` across two domains: the i-th query and the i-th gallery
    item are the same instance (e.g. a sketch and its photo), every other item
    of the batch is a negative.

    Args:
        y_true: ignored (the pairing is by position).
        y_pred: `concat([query_embeddings, gallery_embeddings], axis=-1)`, [N, 2D].
        temperature: > 0.
    """
    query, gallery = ops.split(ops.convert_to_tensor(y_pred), 2, axis=-1)
    ids = ops.arange(ops.shape(query)[0])
    return ranking_loss(ops.concatenate([ids, ids]), ops.concatenate([query, gallery], axis=0),
                        temperature)


@keras.saving.register_keras_serializable(package="zoo")
class CrossDomainRankingLoss(RankingLoss):
    """`cross_domain_ranking_loss` as a Loss: y_pred = [N, 2D], y_true ignored.

    Args:
        temperature: > 0.
        global_batch: as in `RankingLoss`; the global batch's other pairs
            are the negatives.
    """

    def __init__(self, temperature=0.1, global_batch=True, reduction="sum_over_batch_size",
                 name="cross_domain_ranking_loss", dtype=None):
        super().__init__(temperature, global_batch=global_batch, reduction=reduction,
                         name=name, dtype=dtype)

    def call(self, y_true, y_pred):
        if self.global_batch:
            y_true, y_pred = gather_replicas(y_true, y_pred)
        return replica_share(cross_domain_ranking_loss(y_true, y_pred,
                                                       temperature=self.temperature))
