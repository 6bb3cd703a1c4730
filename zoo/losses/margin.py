"""Margin loss with a learnable boundary beta (Wu et al. 2017, "Sampling
Matters in Deep Embedding Learning").

y_true = integer class labels [N]; y_pred = embeddings [N, D], or [N, D + 1]
from `MarginBeta` (last column = the learned beta). Embeddings are
L2-normalised inside the loss: the distance-weighted sampler assumes points on
the unit sphere.

Why a layer for beta: a `keras.losses.Loss` owns no trainable weights, so the
model's optimizer would never update a variable held by the loss. `MarginBeta`
is the last layer of the *training* model; it holds beta as an ordinary
trainable weight (trained by the model's optimizer, saved in `.keras`) and
appends it to the embeddings as one extra column that `MarginLoss` splits off.
Export the embedding model without it:

    embedder = ...                                  # image -> [N, D]
    trainer = keras.Model(image, MarginBeta()(embedder(image)))
    trainer.compile(optimizer="adam", loss=MarginLoss())   # beta learned
    trainer.fit(images, labels)                      # P x K batches
    # serve / export `embedder`
"""

from zoo import backend  # noqa: F401

import keras
import tensorflow as tf
from keras import ops

from zoo.losses import distances as dist
from zoo.losses.replicas import gather_replicas, replica_share

SAMPLINGS = ("distance", "all")


def distance_weighted_logits(d, neg, dim, cutoff=0.5, nonzero_loss_cutoff=1.4):
    """Log-probabilities (unnormalised) of picking each negative, [N, N].

    For unit vectors in R^n the pairwise distance has density
    q(d) ~ d^(n-2) (1 - d^2/4)^((n-3)/2); negatives are drawn with weight
    1 / q(d), with d clipped below at `cutoff` (how the authors' code bounds
    the weight, the paper's min(lambda, 1/q)), and only among negatives with
    d < nonzero_loss_cutoff (farther ones have zero loss), as in the
    authors' reference code. An anchor without such a negative falls back to
    uniform over its negatives; one without any negative to uniform over all
    (its draws are discarded by the caller). Non-candidates get -inf.

    Args:
        d: Euclidean distances between unit vectors [N, N].
        neg: negative mask [N, N] (bool).
        dim: the embedding dimension n.
        cutoff: lower clip of d in the weight.
        nonzero_loss_cutoff: only negatives closer than this are sampled.
    """
    d = ops.convert_to_tensor(d)
    n = ops.cast(dim, d.dtype)
    dc = ops.maximum(d, cutoff)
    # 1 - d^2/4 -> 0 for antipodal points: clip to keep the log finite.
    log_w = (2.0 - n) * ops.log(dc) - 0.5 * (n - 3.0) * ops.log(
        ops.maximum(1.0 - 0.25 * ops.square(dc), 1e-8))
    candidates = ops.logical_and(neg, ops.less(d, nonzero_loss_cutoff))
    candidates = ops.where(ops.any(candidates, axis=1, keepdims=True), candidates, neg)
    candidates = ops.where(ops.any(candidates, axis=1, keepdims=True), candidates, True)
    shift = ops.expand_dims(dist.masked_max(log_w, candidates, axis=1), 1)  # exp stays finite
    return ops.where(candidates, log_w - shift, float("-inf"))


def sample_negative_counts(logits, num_draws, seed=None):
    """How often each negative is drawn per anchor, [N, N].

    Row a draws `num_draws[a]` indices with replacement from
    softmax(logits[a]).

    Args:
        logits: [N, N] from `distance_weighted_logits`.
        num_draws: [N] draws per anchor (<= N).
        seed: int (same draws every call), a `keras.random.SeedGenerator`
            (a new, reproducible draw per call) or None.
    """
    n = ops.shape(logits)[0]
    draws = keras.random.categorical(ops.cast(logits, "float32"), n, seed=seed)  # [N, N]
    keep = ops.less(ops.expand_dims(ops.arange(n), 0), ops.expand_dims(num_draws, 1))
    onehot = ops.one_hot(draws, n, dtype=logits.dtype)  # [anchor, draw, candidate]
    return ops.sum(onehot * ops.cast(ops.expand_dims(keep, 2), logits.dtype), axis=1)


def _split_beta(y_pred):
    """Embeddings [N, D] and beta [N] from a `MarginBeta` output [N, D + 1]."""
    beta = y_pred[:, -1]
    constant = ops.all(ops.equal(beta, beta[0]))
    tf.debugging.Assert(
        constant,
        ["MarginLoss(beta=None) reads the learned beta from the last column of "
         "y_pred, which must come from a MarginBeta layer (constant over the "
         "batch); add MarginBeta() as the model's last layer or pass a fixed "
         "beta=1.2. Received last column:", beta],
        summarize=8,
    )
    return y_pred[:, :-1], beta


def margin_loss(labels, embeddings, beta=1.2, alpha=0.2, nu=0.0, cutoff=0.5,
                nonzero_loss_cutoff=1.4, negative_sampling="distance", seed=None):
    """Margin loss max(0, alpha + y_ij (D_ij - beta)), y = +1 same / -1 different.

    Pairs: every positive pair (i, j), i != j. Negatives: "all" uses every
    negative pair (deterministic); "distance" draws, per anchor, as many
    negatives as it has positives, with replacement, by distance-weighted
    sampling (`distance_weighted_logits`). The result is
    sum(pair losses) / (number of pairs with loss > 0) + nu * mean(beta),
    as in the authors' code except that the nu term is not divided by the
    pair count. A batch without any pair with loss > 0 gives nu * mean(beta).

    Args:
        labels: class ids [N] or [N, 1].
        embeddings: [N, D]; L2-normalised here.
        beta: the boundary; a scalar or per-anchor [N] tensor.
        alpha: the margin around beta, >= 0.
        nu: weight of the beta regulariser.
        cutoff, nonzero_loss_cutoff: see `distance_weighted_logits`.
        negative_sampling: "distance" or "all".
        seed: see `sample_negative_counts`; only used by "distance".
    """
    if negative_sampling not in SAMPLINGS:
        raise ValueError(f"negative_sampling must be one of {SAMPLINGS}. "
                         f"Received: negative_sampling={negative_sampling!r}")
    x = dist.l2_normalize(ops.convert_to_tensor(embeddings))
    labels = dist.flatten_labels(labels)
    d = dist.pairwise_euclidean_distances(x)
    pos = dist.positive_mask(labels)
    neg = dist.negative_mask(labels)
    beta = ops.cast(beta, d.dtype)
    beta_row = ops.expand_dims(beta, -1) if len(beta.shape) == 1 else beta
    pos_loss = ops.relu(alpha + d - beta_row)
    neg_loss = ops.relu(alpha - d + beta_row)
    pos_w = ops.cast(pos, d.dtype)
    if negative_sampling == "all":
        neg_w = ops.cast(neg, d.dtype)
    else:
        logits = distance_weighted_logits(ops.stop_gradient(d), neg, ops.shape(x)[1],
                                          cutoff, nonzero_loss_cutoff)
        num_draws = ops.sum(ops.cast(pos, "int32"), axis=1)
        neg_w = sample_negative_counts(logits, num_draws, seed) * ops.cast(neg, d.dtype)
    total = ops.sum(pos_w * pos_loss) + ops.sum(neg_w * neg_loss)
    active = (ops.sum(pos_w * ops.cast(pos_loss > 0, d.dtype))
              + ops.sum(neg_w * ops.cast(neg_loss > 0, d.dtype)))
    return dist.safe_mean(total, active) + nu * ops.mean(beta)


@keras.saving.register_keras_serializable(package="zoo")
class MarginBeta(keras.layers.Layer):
    """Holds the learnable margin-loss boundary beta; appends it as a column.

    [N, D] -> [N, D + 1]; the last column is beta for every row. Put it last
    in the training model only (see the module docstring).

    Args:
        beta_init: the initial beta (1.2 in Wu et al. for unit embeddings).
    """

    def __init__(self, beta_init=1.2, **kwargs):
        super().__init__(**kwargs)
        self.beta_init = float(beta_init)

    def build(self, input_shape):
        self.beta = self.add_weight(
            name="beta", shape=(), initializer=keras.initializers.Constant(self.beta_init))

    def call(self, embeddings):
        column = ops.ones_like(embeddings[..., :1]) * ops.cast(self.beta, embeddings.dtype)
        return ops.concatenate([embeddings, column], axis=-1)

    def compute_output_shape(self, input_shape):
        last = None if input_shape[-1] is None else input_shape[-1] + 1
        return (*input_shape[:-1], last)

    def get_config(self):
        return {**super().get_config(), "beta_init": self.beta_init}


@keras.saving.register_keras_serializable(package="zoo")
class MarginLoss(keras.losses.Loss):
    """Margin loss (Wu et al. 2017): y_true = class ids [N].

    Args:
        alpha: margin around the boundary, >= 0.
        beta: None (default, the paper's method): learned; y_pred is
            [N, D + 1] from `MarginBeta`, whose last column is beta. A float:
            a fixed boundary; y_pred is plain embeddings [N, D].
        nu: beta regulariser weight (adds nu * beta).
        cutoff: distance clip of the sampling weights (0.5 in the paper).
        nonzero_loss_cutoff: negatives at or beyond it are never sampled
            (1.4 = beta + alpha at initialisation).
        negative_sampling: "distance" (default, the paper) or "all"
            (every negative pair; deterministic).
        seed: int or None. Seeds a `keras.random.SeedGenerator`, so with an
            int the sequence of draws across steps is reproducible.
        global_batch: under `tf.distribute`, sample pairs from the whole
            global batch (every replica's rows, `zoo.losses.replicas`), as one
            device would; False uses each replica's slice alone. No effect
            on one device.
        reduction, name, dtype: as in `keras.losses.Loss`; the loss is a
            batch mean already.
    """

    def __init__(self, alpha=0.2, beta=None, nu=0.0, cutoff=0.5, nonzero_loss_cutoff=1.4,
                 negative_sampling="distance", seed=None, global_batch=True,
                 reduction="sum_over_batch_size", name="margin_loss", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        if not float(alpha) >= 0.0:
            raise ValueError(f"alpha must be >= 0. Received: alpha={alpha!r}")
        if not float(cutoff) > 0.0:
            raise ValueError(f"cutoff must be > 0. Received: cutoff={cutoff!r}")
        if negative_sampling not in SAMPLINGS:
            raise ValueError(f"negative_sampling must be one of {SAMPLINGS}. "
                             f"Received: negative_sampling={negative_sampling!r}")
        if seed is not None and not isinstance(seed, int):
            raise ValueError(f"seed must be an int or None. Received: seed={seed!r}")
        self.alpha = float(alpha)
        self.beta = None if beta is None else float(beta)
        self.nu = float(nu)
        self.cutoff = float(cutoff)
        self.nonzero_loss_cutoff = float(nonzero_loss_cutoff)
        self.negative_sampling = negative_sampling
        self.seed = seed
        self.global_batch = bool(global_batch)
        self._seed_generator = keras.random.SeedGenerator(seed)

    def call(self, y_true, y_pred):
        if self.global_batch:
            y_true, y_pred = gather_replicas(y_true, y_pred)
        return replica_share(self._loss(y_true, y_pred))

    def _loss(self, y_true, y_pred):
        if self.beta is None:
            embeddings, beta = _split_beta(y_pred)
        else:
            embeddings, beta = y_pred, self.beta
        return margin_loss(y_true, embeddings, beta=beta, alpha=self.alpha, nu=self.nu,
                           cutoff=self.cutoff, nonzero_loss_cutoff=self.nonzero_loss_cutoff,
                           negative_sampling=self.negative_sampling,
                           seed=self._seed_generator)

    def get_config(self):
        return {**super().get_config(), "dtype": self.dtype, "alpha": self.alpha,
                "beta": self.beta, "nu": self.nu, "cutoff": self.cutoff,
                "nonzero_loss_cutoff": self.nonzero_loss_cutoff,
                "negative_sampling": self.negative_sampling, "seed": self.seed,
                "global_batch": self.global_batch}
