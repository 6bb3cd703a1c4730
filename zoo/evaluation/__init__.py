"""Evaluation in NumPy / scikit-learn (no TensorFlow import).

Conventions: pair labels 1 = same identity; `direction` "greater" = match
when score >= threshold, "less" = match when score <= threshold; `distance`
"cosine" or "euclidean", as in the model card.
"""

from zoo.evaluation.identification import closed_set_top1, open_set_dir_at_far
from zoo.evaluation.oneshot import (
    OneShotResult,
    n_way_accuracy,
    n_way_accuracy_from_scores,
    pairwise_scores,
)
from zoo.evaluation.retrieval import (
    gallery_retrieval_report,
    plot_embedding_2d,
    retrieval_report,
)
from zoo.evaluation.verification import (
    Roc,
    accuracy_at_threshold,
    calibrate_threshold,
    eer,
    plot_roc,
    roc,
    tar_at_far,
    verification_report,
)

__all__ = [
    "OneShotResult",
    "Roc",
    "accuracy_at_threshold",
    "calibrate_threshold",
    "closed_set_top1",
    "eer",
    "gallery_retrieval_report",
    "n_way_accuracy",
    "n_way_accuracy_from_scores",
    "open_set_dir_at_far",
    "pairwise_scores",
    "plot_embedding_2d",
    "plot_roc",
    "retrieval_report",
    "roc",
    "tar_at_far",
    "verification_report",
]
