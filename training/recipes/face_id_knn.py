"""face_id_knn: identification without fine-tuning (lecture 1.4).

The frozen `face_resnet` tower embeds 5 faces of each unseen person s31-s40;
the model's nearest-neighbour head stores them and scores a new face by its
euclidean distance to each person's nearest enrolled face. Faces farther than
face_resnet's threshold (calibrated on s26-s30) are "unknown".
"""

import numpy as np

from zoo.training.recipes import faces
from zoo.training.recipes.common import save_result, seeded_model
from zoo.training.recipes.face_resnet import chip_embedder, chips
from zoo.models.graphs import graph_model

EPOCHS = 0  # enrollment, not training
dataset_card = faces.unseen_dataset_card


def train(run_dir, epochs=None, seed=0, quick=False):
    """Enroll the unseen people's enrollment half; nothing is trained.

    Args:
        run_dir: the run folder.
        epochs: unused (enrollment is not training).
        seed: seeds the 5/5 split of the unseen people.
        quick: fresh tower weights (the tiny config).
    """
    import zoo

    model = seeded_model("face_id_knn", seed, **(zoo.info("face_id_knn").tiny if quick else {}))
    x, y = faces.unseen_split(seed, size=None)["train"]
    embed = chip_embedder(graph_model(model, "embed"))
    model.get_layer("knn").enroll(embed(x), y)
    _, threshold = faces.verification(embed, "euclidean", size=None)
    metrics = evaluate(model, seed)
    metrics["unseen_s31_s40"] = faces.identification(embed, "euclidean", size=None)
    return save_result(run_dir, model, metrics=metrics, seconds=0.0, epochs=0, seed=seed,
                       dataset=faces.unseen_dataset_card(seed), threshold=threshold,
                       classes=faces.UNSEEN_NAMES)


def evaluate(model, seed=0):
    """Top-1 accuracy on the test half of the unseen people's 5/5 split."""
    x, y = faces.unseen_split(seed, size=None)["test"]
    distances = model.predict(chips(x), batch_size=32, verbose=0)
    return {"test": {"top1": round(float(np.mean(np.argmin(distances, axis=1) == y)), 4),
                     "n": int(len(y))}}
