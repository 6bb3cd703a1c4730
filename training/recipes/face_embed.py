"""face_embed: a face embedding learned with the ranking loss on source people.

Its backbone starts from `omniglot_siamese`'s (964 Omniglot characters: many
classes of another domain; 25 people alone overfit). It trains on s1-s25
(augmented P x K batches), keeps the epoch with the lowest verification EER
on s26-s30 (never trained on; they also calibrate the threshold), and is
measured only on the unseen people s31-s40, next to the eigenfaces baseline
(PCA on s1-s30 + nearest neighbour).
"""

import numpy as np

from zoo.training.recipes import faces
from zoo.training.recipes.common import save_result, seeded_model
from zoo.models.graphs import graph_model

EPOCHS, STEPS, P, K = 15, 30, 25, 4
PATIENCE = 4  # epochs without a better calibration EER before stopping
SOURCE = "omniglot_siamese"  # the pretrained backbone


def train(run_dir, epochs=None, seed=0, quick=False):
    """Train, then measure verification and identification on s31-s40.

    Args:
        run_dir: the run folder.
        epochs: override `EPOCHS`.
        seed: seeds the batches, the augmentation and the weights.
        quick: the tiny config, 1 epoch of 3 steps.
    """
    import zoo

    model = seeded_model("face_embed", seed, **(zoo.info("face_embed").tiny if quick else {}))
    if not quick:
        load_backbone(model, SOURCE)
    x, y = faces.faces(faces.FIT_PEOPLE)
    epochs, steps = (1, 3) if quick else (epochs or EPOCHS, STEPS)
    selection = faces.select_on_calibration_people(graph_model(model, "embed"), PATIENCE)
    run = faces.train_metric(model, x, y, run_dir, epochs=epochs, steps=steps, p=P, k=K,
                             seed=seed, callbacks=selection,
                             config={"model": "face_embed", "quick": quick, "p": P, "k": K,
                                     "steps": steps, "augment": True, "backbone": SOURCE,
                                     "patience": PATIENCE})
    metrics, threshold = evaluate_with_threshold(model, run_dir)
    curve = run.history["calibration_eer"]
    return save_result(
        run_dir, model, metrics=metrics, seconds=run.seconds, epochs=len(curve), seed=seed,
        notes={"backbone": f"initialised from {SOURCE}'s backbone" if not quick else "random",
               "selected_epoch": f"{int(np.argmin(curve)) + 1} of {len(curve)} run (lowest "
                                 "verification EER on s26-s30)"},
        threshold=threshold, figures=["roc.png"],
        dataset=dataset_card(seed))


def dataset_card(seed=0, quick=False) -> dict:
    """The card's `dataset`."""
    return {"name": "orl_faces",
            "train": "source people s1-s25, all 10 faces each; threshold calibrated on "
                     "s26-s30",
            "eval": "unseen people s31-s40 (100 faces)"}


def evaluate(model):
    """Unseen-people metrics of `model` and of the eigenfaces baseline."""
    return evaluate_with_threshold(model)[0]


def evaluate_with_threshold(model, figure_dir=None):
    """({"unseen_s31_s40": ..., "eigenfaces_unseen_s31_s40": ...}, threshold)."""
    embed = faces.keras_embedder(graph_model(model, "embed"))
    metrics, threshold = faces.unseen_report(embed, "cosine", figure_dir)
    return {"unseen_s31_s40": metrics,
            "eigenfaces_unseen_s31_s40": faces.eigenfaces_report()}, threshold


def load_backbone(model, source):
    """Copy the backbone of `source`'s published "embed" tower into `model`'s
    (fully convolutional: the input sizes may differ)."""
    import zoo

    weights = graph_model(zoo.load(source), "embed").get_layer("backbone").get_weights()
    graph_model(model, "embed").get_layer("backbone").set_weights(weights)

