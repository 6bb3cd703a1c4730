"""face_verify: 1:1 verification of unseen people with tied face_resnet towers.

The pair model's two towers share face_resnet's weights (dlib's, unchanged) and
its euclidean head scores a pair (lower = same person); nothing is retrained.
The threshold is calibrated (FAR 1e-2) on every pair of s26-s30, and every
figure is measured on the unseen people s31-s40.
"""

from pathlib import Path

from zoo.training.recipes import faces
from zoo.training.recipes.common import save_result, seeded_model
from zoo.training.recipes.face_resnet import chip_embedder
from zoo.models.graphs import graph_model

EPOCHS = 0  # face_resnet's towers, not retrained


def train(run_dir, epochs=None, seed=0, quick=False):
    """Build the towers from face_resnet, calibrate the threshold and measure.

    Args:
        run_dir: the run folder.
        epochs: unused (nothing is trained).
        seed: seeds the (quick) weights.
        quick: fresh towers (the tiny config) instead of dlib's weights.
    """
    import zoo

    model = seeded_model("face_verify", seed, **(zoo.info("face_verify").tiny if quick else {}))
    metrics, threshold = evaluate_with_threshold(model, run_dir)
    return save_result(
        run_dir, model, metrics=metrics, seconds=0.0, epochs=0, seed=seed, threshold=threshold,
        figures=["roc.png"],
        dataset=dataset_card(seed))


def dataset_card(seed=0, quick=False) -> dict:
    """The card's `dataset`."""
    return {"name": "orl_faces", "train": "face_resnet's towers, not retrained; "
            "threshold calibrated on every pair of s26-s30",
            "eval": "every pair of the unseen people s31-s40's 100 faces"}


def evaluate(model):
    """Verification metrics on the unseen people."""
    return evaluate_with_threshold(model)[0]


def evaluate_with_threshold(model, figure_dir=None):
    """({"unseen_s31_s40": metrics}, threshold); the head's score is the distance
    of the tower embeddings, so pairs are scored from one embedding per face."""
    embed = chip_embedder(graph_model(model, "embed"))
    figure = None if figure_dir is None else Path(figure_dir) / "roc.png"
    metrics, threshold = faces.verification(embed, "euclidean", figure, size=None)
    return {"unseen_s31_s40": metrics}, threshold
