"""face_verify: 1:1 verification of unseen people with tied face_embed towers.

The pair model's two towers share `face_embed`'s weights and its cosine head
scores a pair (higher = same person); nothing is retrained. The threshold is
calibrated (FAR 1e-2) on every pair of the source people s26-s30, whom
face_embed never trained on, and every figure is measured on the unseen
people s31-s40.
"""

from pathlib import Path

from training.recipes import faces
from training.recipes.common import save_result, seeded_model
from training.recipes.face_embed import load_tower
from zoo.models.graphs import graph_model


def train(run_dir, epochs=None, seed=0, quick=False):
    """Copy the face_embed tower, calibrate the threshold and measure.

    Args:
        run_dir: the run folder.
        epochs: unused (nothing is trained).
        seed: seeds the (tiny, quick) weights.
        quick: the tiny config with a random tower.
    """
    import zoo

    model = seeded_model("face_verify", seed, **(zoo.info("face_verify").tiny if quick else {}))
    if not quick:
        load_tower(model)
    metrics, threshold = evaluate_with_threshold(model, run_dir)
    return save_result(
        run_dir, model, metrics=metrics, seconds=0.0, epochs=0, seed=seed, threshold=threshold,
        figures=["roc.png"],
        dataset={"name": "orl_faces", "train": "face_embed's tower (s1-s25), not retrained; "
                 "threshold calibrated on every pair of s26-s30",
                 "eval": "every pair of the unseen people s31-s40's 100 faces"})


def evaluate(model):
    """Verification metrics on the unseen people."""
    return evaluate_with_threshold(model)[0]


def evaluate_with_threshold(model, figure_dir=None):
    """({"unseen_s31_s40": metrics}, threshold); the cosine head's score equals
    the cosine similarity of the tower embeddings, so pairs are scored from
    one embedding per face."""
    embed = faces.keras_embedder(graph_model(model, "embed"))
    figure = None if figure_dir is None else Path(figure_dir) / "roc.png"
    metrics, threshold = faces.verification(embed, "cosine", figure)
    return {"unseen_s31_s40": metrics}, threshold
