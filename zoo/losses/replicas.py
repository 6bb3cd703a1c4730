"""In-batch mining across replicas under `tf.distribute`.

A mining loss (triplet, ranking, margin) looks for positives and negatives
inside the batch. Under a distribution strategy each replica sees only its
slice of the global batch, so mining per replica finds fewer, easier
negatives than one device would on the whole batch (the failure reported in
TensorFlow Similarity's issue #258). `gather_replicas` concatenates every
replica's labels and embeddings first, so the loss mines the global batch;
`all_gather` passes back to each replica the gradient of its own rows.

Keras divides a per-example loss by the number of replicas R (each replica
returns its share, and the optimizer sums the replicas' gradients) but leaves
a scalar loss alone. A mining loss is a scalar, so it is divided here
(`replica_share`): summed over the replicas it gives the global-batch loss
once, not R times.

Both functions are no-ops outside a replica context, or with one replica.
"""

from zoo import backend  # noqa: F401

import tensorflow as tf


def num_replicas() -> int:
    """The replicas training in sync here: 1 outside a `strategy.run`."""
    context = tf.distribute.get_replica_context()
    return 1 if context is None else int(context.num_replicas_in_sync)


def gather_replicas(labels, embeddings):
    """Every replica's `labels` and `embeddings`, concatenated in replica order.

    Args:
        labels: this replica's class ids [n] or [n, 1].
        embeddings: this replica's embeddings [n, D].

    Returns:
        (labels [N], embeddings [N, D]) of the global batch, the same on every
        replica; the inputs unchanged with one replica.
    """
    if num_replicas() == 1:
        return labels, embeddings
    context = tf.distribute.get_replica_context()
    labels = tf.reshape(tf.convert_to_tensor(labels), (-1,))
    return context.all_gather(labels, axis=0), context.all_gather(embeddings, axis=0)


def replica_share(loss):
    """`loss / R`: this replica's share of a loss computed on the global batch."""
    replicas = num_replicas()
    return loss if replicas == 1 else loss / tf.cast(replicas, loss.dtype)
