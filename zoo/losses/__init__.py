"""Losses for representation learning: one module per loss, each a pure
function plus a registered `keras.losses.Loss` class.

Label conventions:
    ContrastiveLoss: y_true in {0, 1}, 1 = same identity; y_pred = distance.
    TripletLoss, MarginLoss, RankingLoss: y_true = class ids [N];
        y_pred = embeddings [N, D] (in-batch mining over a P x K batch).

Under `tf.distribute`, TripletLoss, MarginLoss and RankingLoss mine the global
batch, gathered from every replica (`zoo.losses.replicas`, `global_batch=True`).
"""

from zoo.losses.contrastive import ContrastiveLoss, contrastive_loss
from zoo.losses.distances import (
    l2_normalize,
    negative_mask,
    pairwise_cosine_distances,
    pairwise_distances,
    pairwise_euclidean_distances,
    pairwise_squared_distances,
    positive_mask,
    safe_euclidean,
    safe_sqrt,
)
from zoo.losses.margin import MarginBeta, MarginLoss, margin_loss
from zoo.losses.ranking import (
    CrossDomainRankingLoss,
    RankingLoss,
    cross_domain_ranking_loss,
    ranking_loss,
)
from zoo.losses.triplet import TripletLoss, triplet_loss

__all__ = [
    "ContrastiveLoss",
    "CrossDomainRankingLoss",
    "cross_domain_ranking_loss",
    "MarginBeta",
    "MarginLoss",
    "RankingLoss",
    "TripletLoss",
    "contrastive_loss",
    "l2_normalize",
    "margin_loss",
    "negative_mask",
    "pairwise_cosine_distances",
    "pairwise_distances",
    "pairwise_euclidean_distances",
    "pairwise_squared_distances",
    "positive_mask",
    "ranking_loss",
    "safe_euclidean",
    "safe_sqrt",
    "triplet_loss",
]
