"""Contrastive loss on pair distances (Siamese verification).

Label convention: y_true = 1 means the pair shows the SAME identity, 0 means
different identities. y_pred is the pair distance d >= 0, shape [N] or
[N, 1], e.g. `zoo.losses.safe_euclidean(emb_a, emb_b)` (use it, not a plain
sqrt: its gradient stays finite when the two embeddings coincide). With
`similarity=True`, y_pred is a cosine similarity s in [-1, 1] and the loss
uses the cosine distance d = 1 - s.
"""

from zoo import backend  # noqa: F401

import keras
import tensorflow as tf
from keras import ops

from zoo.losses.distances import flatten_labels

VARIANTS = ("hadsell", "lecture")


def _check_inputs(y_true, y_pred):
    """Refuse labels outside {0, 1} and negative distances.

    `tf.debugging.Assert` raises InvalidArgumentError eagerly and in graphs
    (`fit`). XLA compiles asserts away, so the returned poison (0, or NaN for
    bad inputs) is added to the loss: under `jit_compile=True` bad labels give
    a NaN loss instead of training silently on wrong targets.
    """
    binary = ops.all(ops.logical_or(ops.equal(y_true, 0.0), ops.equal(y_true, 1.0)))
    tf.debugging.Assert(
        binary,
        ["ContrastiveLoss needs y_true in {0, 1} with 1 = same identity, 0 = "
         "different; map pair labels with y = (label_a == label_b). "
         "Received: y_true =", y_true],
        summarize=10,
    )
    nonnegative = ops.all(ops.greater_equal(y_pred, 0.0))
    tf.debugging.Assert(
        nonnegative,
        ["ContrastiveLoss needs y_pred = a distance >= 0 (e.g. safe_euclidean), "
         "not a similarity. Received: y_pred =", y_pred],
        summarize=10,
    )
    ok = ops.logical_and(binary, nonnegative)
    return ops.where(ok, ops.zeros((), y_pred.dtype), ops.full((), float("nan"), y_pred.dtype))


def contrastive_loss(y_true, y_pred, margin=1.0, variant="hadsell", similarity=False):
    """Per-pair contrastive loss.

    hadsell: y * d^2 + (1 - y) * max(margin - d, 0)^2   (Hadsell et al. 2006)
    lecture: y * d^2 + (1 - y) * max(margin - d, 0)

    No 1/2 factor (Hadsell et al. write one): it only rescales the gradient,
    and without it the values match TF-Addons' `contrastive_loss` and the
    keras.io Siamese example.

    Args:
        y_true: [N] or [N, 1], 1 = same identity, 0 = different.
        y_pred: pair distances d >= 0, [N] or [N, 1].
        margin: negatives closer than `margin` are pushed apart.
        variant: "hadsell" or "lecture".
        similarity: y_pred is a cosine similarity s; d = 1 - s.

    Returns:
        Per-pair losses [N].

    Raises:
        InvalidArgumentError: labels outside {0, 1} or a negative distance.
    """
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}. Received: variant={variant!r}")
    y_pred = ops.reshape(ops.convert_to_tensor(y_pred), (-1,))
    if similarity:
        y_pred = ops.relu(1.0 - y_pred)  # relu: rounding can put s a hair above 1
    y_true = ops.cast(flatten_labels(y_true), y_pred.dtype)
    poison = _check_inputs(y_true, y_pred)
    hinge = ops.relu(margin - y_pred)
    if variant == "hadsell":
        hinge = ops.square(hinge)
    return y_true * ops.square(y_pred) + (1.0 - y_true) * hinge + poison


@keras.saving.register_keras_serializable(package="zoo")
class ContrastiveLoss(keras.losses.Loss):
    """Contrastive loss for Siamese models: y_true 1 = same, y_pred = distance.

    The default variant is "hadsell" (squared hinge): it is the published
    form, both terms are in units of distance^2 so `margin` acts on the same
    scale as the positive term, and its gradient fades smoothly to 0 as a
    negative reaches the margin. "lecture" uses the plain hinge
    max(margin - d, 0), whose push on negatives stays constant up to the
    margin. See `contrastive_loss` for the formulas.

    Args:
        margin: >= 0, in units of the distance.
        variant: "hadsell" or "lecture".
        similarity: y_pred is a cosine similarity s in [-1, 1] (a cosine
            head); the loss acts on d = 1 - s.
        reduction, name, dtype: as in `keras.losses.Loss`; the default
            reduction averages over pairs.

    Example:
        d = ops.expand_dims(safe_euclidean(emb_a, emb_b), -1)   # [N, 1]
        model.compile(loss=ContrastiveLoss(margin=1.0))
        model.fit([images_a, images_b], same_identity)          # {0, 1}
    """

    def __init__(self, margin=1.0, variant="hadsell", similarity=False,
                 reduction="sum_over_batch_size", name="contrastive_loss", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        if not float(margin) >= 0.0:
            raise ValueError(f"margin must be >= 0. Received: margin={margin!r}")
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {VARIANTS}. Received: variant={variant!r}")
        self.margin = float(margin)
        self.variant = variant
        self.similarity = bool(similarity)

    def call(self, y_true, y_pred):
        return contrastive_loss(y_true, y_pred, margin=self.margin, variant=self.variant,
                                similarity=self.similarity)

    def get_config(self):
        return {**super().get_config(), "dtype": self.dtype, "margin": self.margin,
                "variant": self.variant, "similarity": self.similarity}
