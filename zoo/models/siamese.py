"""Siamese towers, the four verification designs, and metric-learning embedders.

Every pair model takes `image_a` and `image_b` and outputs a score [N, 1];
every tower is one shared sub-model named "embed", so the `embed` export
graph is the tower itself and the model holds one copy of its variables.
"""

from zoo import backend  # noqa: F401

import keras
from keras import layers

from zoo.layers.heads import L2Normalize, PairDistance, PairFeatures, ScaleGradient
from zoo.losses import (
    ContrastiveLoss,
    CrossDomainRankingLoss,
    MarginBeta,
    MarginLoss,
    RankingLoss,
    TripletLoss,
)
from zoo.models.backbones import conv_backbone

TIED_UPDATES = ("sum", "mean")
EMBEDDING_LOSSES = ("triplet", "margin", "ranking")


def embedding_tower(input_shape, widths, embedding_dim, normalize=True, name="embed"):
    """`conv_backbone` + Dense projection (+ L2 normalisation).

    Args:
        input_shape: (H, W, C) of the float32 input in [0, 1].
        widths: backbone filters per block.
        embedding_dim: size of the embedding.
        normalize: L2-normalise the embedding (cosine geometry).
        name: the sub-model name; "embed" makes it the `embed` graph.
    """
    if int(embedding_dim) <= 0:
        raise ValueError(f"embedding_dim must be positive. Received: embedding_dim={embedding_dim}")
    image = keras.Input(shape=tuple(input_shape), name="image")
    x = conv_backbone(input_shape, widths)(image)
    x = layers.Dense(int(embedding_dim), name="projection")(x)
    if normalize:
        x = L2Normalize(name="l2_normalize")(x)
    return keras.Model(image, x, name=name)


def _pair_inputs(input_shape):
    return (keras.Input(shape=tuple(input_shape), name="image_a"),
            keras.Input(shape=tuple(input_shape), name="image_b"))


def _mlp_head(features, hidden, dropout):
    x = features
    for i, units in enumerate(hidden):
        x = layers.Dense(int(units), activation="relu", name=f"head_dense{i}")(x)
        if dropout:
            x = layers.Dropout(float(dropout), name=f"head_dropout{i}")(x)
    return layers.Dense(1, activation="sigmoid", name="match_probability")(x)


def _compile_bce(model, learning_rate):
    model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                  loss="binary_crossentropy", metrics=["binary_accuracy"])
    return model


def build_siamese(input_shape=(28, 28, 1), widths=(32, 64, 128), embedding_dim=64,
                  metric="euclidean", margin=1.0, learning_rate=1e-3):
    """Tied towers with a distance head, trained with `ContrastiveLoss`.

    metric "euclidean" (approach 1c): the score is ||f(a) - f(b)|| (lower =
    same), the loss is the contrastive loss on that distance. metric
    "cosine": the score is cos(f(a), f(b)) in [-1, 1] (higher = same), the
    loss is the contrastive loss on 1 - cos.

    Args:
        input_shape: (H, W, C).
        widths: tower backbone filters per block.
        embedding_dim: embedding size.
        metric: "euclidean" or "cosine".
        margin: contrastive margin, in units of the distance.
        learning_rate: Adam learning rate.
    """
    image_a, image_b = _pair_inputs(input_shape)
    tower = embedding_tower(input_shape, widths, embedding_dim, normalize=True)
    score = PairDistance(metric, name="score")([tower(image_a), tower(image_b)])
    model = keras.Model([image_a, image_b], score, name=f"siamese_{metric}")
    model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                  loss=ContrastiveLoss(margin=margin, similarity=metric == "cosine"))
    return model


def build_verify_mlp(input_shape=(28, 28, 1), widths=(32, 64, 128), hidden=(128,),
                     dropout=0.0, learning_rate=1e-3):
    """Approach 1a: a frozen feature extractor and an MLP match head.

    The backbone ("backbone", shared by both images) has `trainable=False`
    and runs with `training=False`, so BatchNorm keeps its statistics; load
    pretrained weights into it (the recipe uses `fmnist_cnn`'s). The MLP
    sees `concat(|f1 - f2|, f1 * f2)` and outputs the match probability.

    Args:
        input_shape: (H, W, C).
        widths: backbone filters per block (must match the pretrained one).
        hidden: MLP hidden layer sizes.
        dropout: dropout after each hidden layer.
        learning_rate: Adam learning rate.
    """
    image_a, image_b = _pair_inputs(input_shape)
    backbone = conv_backbone(input_shape, widths)
    backbone.trainable = False
    features = [backbone(image_a, training=False), backbone(image_b, training=False)]
    probability = _mlp_head(PairFeatures(name="pair_features")(features), hidden, dropout)
    return _compile_bce(keras.Model([image_a, image_b], probability, name="verify_mlp"),
                        learning_rate)


def build_verify_tied(input_shape=(28, 28, 1), widths=(32, 64, 128), embedding_dim=64,
                      hidden=(128,), dropout=0.0, tied_update="sum", learning_rate=1e-3):
    """Approach 1b: tied towers and an MLP head, trained end to end with BCE.

    Both branches call the same tower, so its variables exist once and
    their gradient is the sum of the two branch gradients. `tied_update=
    "mean"` halves the gradient entering the tower from each branch, which
    gives the lecture's (x + y) / 2 update.

    Args:
        input_shape: (H, W, C).
        widths: tower backbone filters per block.
        embedding_dim: tower output size.
        hidden: MLP hidden layer sizes.
        dropout: dropout after each hidden layer.
        tied_update: "sum" or "mean".
        learning_rate: Adam learning rate.
    """
    if tied_update not in TIED_UPDATES:
        raise ValueError(f"tied_update must be one of {TIED_UPDATES}. "
                         f"Received: tied_update={tied_update!r}")
    image_a, image_b = _pair_inputs(input_shape)
    tower = embedding_tower(input_shape, widths, embedding_dim, normalize=False)
    factor = 0.5 if tied_update == "mean" else 1.0
    features = [ScaleGradient(factor, name=f"tied_update_{side}")(tower(image))
                for side, image in (("a", image_a), ("b", image_b))]
    probability = _mlp_head(PairFeatures(name="pair_features")(features), hidden, dropout)
    return _compile_bce(keras.Model([image_a, image_b], probability, name="verify_tied"),
                        learning_rate)


def build_two_channel(input_shape=(28, 28, 1), widths=(32, 64, 128), hidden=(128,),
                      dropout=0.0, learning_rate=1e-3):
    """Approach 2: both images stacked along the channel axis into one CNN.

    Args:
        input_shape: (H, W, C) of each image; the CNN sees (H, W, 2C).
        widths: CNN filters per block.
        hidden: MLP hidden layer sizes.
        dropout: dropout after each hidden layer.
        learning_rate: Adam learning rate.
    """
    image_a, image_b = _pair_inputs(input_shape)
    stacked = layers.Concatenate(axis=-1, name="stack_channels")([image_a, image_b])
    height, width, channels = input_shape
    features = conv_backbone((height, width, 2 * channels), widths)(stacked)
    probability = _mlp_head(features, hidden, dropout)
    return _compile_bce(keras.Model([image_a, image_b], probability, name="two_channel"),
                        learning_rate)


def build_embedder(input_shape=(28, 28, 1), widths=(32, 64, 128), embedding_dim=64,
                   loss="triplet", margin=0.2, mining="hard", temperature=0.1,
                   beta_init=1.2, learning_rate=1e-3):
    """An L2-normalised embedding trained with an in-batch metric loss on
    P x K batches (labels are class ids).

    The model's `embed` sub-model is the tower; with the margin loss the
    training model also appends the learnable beta (`MarginBeta`), which is
    not part of the exported graph.

    Args:
        input_shape: (H, W, C).
        widths: tower backbone filters per block.
        embedding_dim: embedding size.
        loss: "triplet", "margin" or "ranking".
        margin: triplet margin, or the margin loss's alpha.
        mining: triplet mining, "all", "hard" or "semi_hard".
        temperature: ranking (supervised contrastive) temperature.
        beta_init: margin loss's initial beta.
        learning_rate: Adam learning rate.
    """
    if loss not in EMBEDDING_LOSSES:
        raise ValueError(f"loss must be one of {EMBEDDING_LOSSES}. Received: loss={loss!r}")
    image = keras.Input(shape=tuple(input_shape), name="image")
    tower = embedding_tower(input_shape, widths, embedding_dim, normalize=True)
    output = tower(image)
    if loss == "triplet":
        objective = TripletLoss(margin=margin, mining=mining, distance="euclidean")
    elif loss == "ranking":
        objective = RankingLoss(temperature=temperature)
    else:
        output = MarginBeta(beta_init=beta_init, name="margin_beta")(output)
        objective = MarginLoss(alpha=margin, seed=0)
    model = keras.Model(image, output, name=f"{loss}_embedder")
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=objective)
    return model


def build_cross_domain(input_shape=(28, 28, 1), widths=(32, 64, 128), embedding_dim=64,
                       temperature=0.1, learning_rate=1e-3):
    """A pseudo-Siamese model: two towers with the same architecture and
    unshared weights, one per domain (query `image_a`, e.g. a sketch; gallery
    `image_b`, e.g. a photo), trained so each query ranks its own gallery
    item first (`CrossDomainRankingLoss`).

    The query tower is the `embed_query` graph and the gallery tower the
    `embed` graph; the training output concatenates both embeddings.

    Args:
        input_shape: (H, W, C) of both domains.
        widths: tower backbone filters per block.
        embedding_dim: embedding size.
        temperature: ranking-loss temperature.
        learning_rate: Adam learning rate.
    """
    image_a, image_b = _pair_inputs(input_shape)
    query = embedding_tower(input_shape, widths, embedding_dim, name="embed_query")
    gallery = embedding_tower(input_shape, widths, embedding_dim, name="embed")
    both = layers.Concatenate(axis=-1, name="query_and_gallery")([query(image_a), gallery(image_b)])
    model = keras.Model([image_a, image_b], both, name="cross_domain")
    model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                  loss=CrossDomainRankingLoss(temperature=temperature))
    return model
