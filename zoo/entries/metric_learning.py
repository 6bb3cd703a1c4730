"""Metric learning and verification entries (the lecture's Verification section)."""

from zoo.entries._common import entry

_FMNIST = {"input_shape": (28, 28, 1), "widths": (32, 64, 128)}
_TINY = {"widths": (4, 8)}
_PAIR_GRAPHS = ("embed", "verify")


def _pair_entry(name, builder, covers, summary, defaults, graphs=("verify",),
                distance=None):
    entry(name=name, builder=f"zoo.models.siamese:{builder}", task="verification",
          covers=covers, summary=summary, input_shape=(28, 28, 1), graphs=graphs,
          dataset="fashion_mnist", defaults={**_FMNIST, **defaults}, tiny=_TINY,
          recipe=f"zoo.training.recipes.{name}", distance=distance)


_pair_entry(
    "siamese_contrastive", "build_siamese",
    covers="Verification, approach 1c: tied Siamese towers, Euclidean distance, "
    "contrastive loss",
    summary="Siamese CNN towers; score = Euclidean distance (lower = same).",
    defaults={"embedding_dim": 64, "metric": "euclidean", "margin": 1.0,
              "learning_rate": 1e-3},
    graphs=_PAIR_GRAPHS, distance="euclidean",
)
_pair_entry(
    "siamese_cosine", "build_siamese",
    covers="Siamese network with a cosine head (signature verification, person re-ID)",
    summary="Siamese CNN towers; score = cosine similarity in [-1, 1] (higher = same).",
    defaults={"embedding_dim": 64, "metric": "cosine", "margin": 0.5,
              "learning_rate": 1e-3},
    graphs=_PAIR_GRAPHS, distance="cosine",
)
_pair_entry(
    "verify_mlp", "build_verify_mlp",
    covers="Verification, approach 1a: frozen feature extractor + MLP match head",
    summary="Frozen fmnist_cnn features, MLP on (|f1-f2|, f1*f2), match probability.",
    defaults={"hidden": (128,), "dropout": 0.0, "learning_rate": 1e-3},
)
_pair_entry(
    "verify_tied", "build_verify_tied",
    covers="Verification, approach 1b: tied towers + MLP head trained end to end with BCE",
    summary="Tied CNN towers, MLP on (|f1-f2|, f1*f2), match probability.",
    defaults={"embedding_dim": 64, "hidden": (128,), "dropout": 0.0, "tied_update": "sum",
              "learning_rate": 1e-3},
    graphs=_PAIR_GRAPHS,
)
_pair_entry(
    "two_channel", "build_two_channel",
    covers="Verification, approach 2: the two images stacked as channels of one CNN",
    summary="One CNN on the 2-channel image pair, match probability.",
    defaults={"hidden": (128,), "dropout": 0.0, "learning_rate": 1e-3},
)


def _embed_entry(name, loss, summary, covers, defaults):
    entry(name=name, builder="zoo.models.siamese:build_embedder", task="embedding",
          covers=covers, summary=summary, input_shape=(28, 28, 1), graphs=("embed",),
          dataset="fashion_mnist", distance="cosine",
          defaults={**_FMNIST, "embedding_dim": 64, "loss": loss, "margin": 0.2,
                    "mining": "hard", "temperature": 0.1, "beta_init": 1.2,
                    "learning_rate": 1e-3, **defaults},
          tiny=_TINY, recipe=f"zoo.training.recipes.{name}")


_embed_entry("triplet_embed", "triplet",
             summary="Image-retrieval embedding trained with batch-hard triplet loss.",
             covers="Triplet loss with online mining; similar-image retrieval",
             defaults={"margin": 0.2, "mining": "hard"})
_embed_entry("margin_embed", "margin",
             summary="Image-retrieval embedding trained with the margin loss (learnable beta).",
             covers="Margin loss with distance-weighted sampling; similar-image retrieval",
             defaults={"margin": 0.2})
_embed_entry("ranking_embed", "ranking",
             summary="Image-retrieval embedding trained with a supervised-contrastive ranking loss.",
             covers="Ranking loss (supervised contrastive); similar-image retrieval",
             defaults={"temperature": 0.1})

entry(
    name="omniglot_siamese",
    builder="zoo.models.siamese:build_siamese",
    task="verification",
    covers="Siamese network for one-shot learning (Koch et al. 2015): Omniglot "
    "background set, Lake's 20-way one-shot runs",
    summary="Siamese CNN towers with a cosine head on 35x35 Omniglot characters.",
    input_shape=(35, 35, 1),
    graphs=_PAIR_GRAPHS,
    dataset="omniglot",
    distance="cosine",
    preprocess={"source": "uint8 grayscale 105x105, ink bright (255) on 0",
                "resize": [35, 35]},
    defaults={"input_shape": (35, 35, 1), "widths": (32, 64, 128), "embedding_dim": 128,
              "metric": "cosine", "margin": 0.5, "learning_rate": 1e-3},
    tiny=_TINY,
    recipe="zoo.training.recipes.omniglot_siamese",
)

entry(
    name="cross_domain",
    builder="zoo.models.siamese:build_cross_domain",
    task="embedding",
    covers="Pseudo-Siamese network (unshared towers) for cross-domain matching, "
    "like street view <-> overhead view: Fashion-MNIST sketch -> photo retrieval",
    summary="Sketch tower + photo tower; a sketch retrieves its own photo by cosine.",
    input_shape=(28, 28, 1),
    graphs=("embed", "embed_query"),
    dataset="fashion_mnist",
    distance="cosine",
    defaults={**_FMNIST, "embedding_dim": 64, "temperature": 0.1, "learning_rate": 1e-3},
    tiny=_TINY,
    recipe="zoo.training.recipes.cross_domain",
)
