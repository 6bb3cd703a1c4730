"""face_resnet: dlib's face ResNet, converted (not trained here) and measured on ORL.

`zoo train face_resnet` reads the pinned package file (sha256-checked), builds the
Keras model and measures it like every face entry: each raw ORL face is aligned
(framed-face box, 5-point landmarks, 150x150 chip), the threshold is calibrated
on every pair of s26-s30 (FAR = 0.01) and the figures are on the unseen s31-s40.
dlib's own threshold, 0.6, is noted beside the calibrated one.
"""

import time

import numpy as np

from zoo.training.recipes import faces
from zoo.training.recipes.common import save_result, seeded_model
from zoo.faces.align import align_faces

DLIB_THRESHOLD = 0.6
EPOCHS = 0  # converted from dlib, not trained


def train(run_dir, epochs=None, seed=0, quick=False):
    """Convert, then measure verification and identification on s31-s40.

    Args:
        run_dir: the run folder.
        epochs: unused (nothing is trained); accepted like every recipe.
        seed: seeds the enrollment draws' order and, with `quick`, the weights.
        quick: fresh weights (the tiny config) instead of reading the package file.
    """
    import zoo

    start = time.perf_counter()
    model = seeded_model("face_resnet", seed, **(zoo.info("face_resnet").tiny if quick else {}))
    metrics, threshold = evaluate_with_threshold(model, run_dir)
    return save_result(
        run_dir, model, metrics=metrics, seconds=time.perf_counter() - start, epochs=0, seed=seed,
        threshold=threshold, figures=["roc.png"],
        notes={"weights": "fresh (quick run)" if quick else
               "dlib_face_recognition_resnet_model_v1.dat from face-recognition-models 0.3.0 "
               "(CC0), converted; not trained here",
               "dlib_threshold": f"dlib's own rule: same person when the distance is below "
                                 f"{DLIB_THRESHOLD}"},
        dataset=dataset_card(seed))


def dataset_card(seed=0, quick=False) -> dict:
    """The card's `dataset`."""
    return {"name": "orl_faces",
            "train": "none (dlib trained it on about 3M faces of other people); threshold "
                     "calibrated on s26-s30",
            "eval": "unseen people s31-s40 (100 faces), aligned with the framed-face box"}


def evaluate(model):
    """Unseen-people metrics of `model` and of the eigenfaces baseline."""
    return evaluate_with_threshold(model)[0]


def evaluate_with_threshold(model, figure_dir=None):
    """({"unseen_s31_s40": ..., "eigenfaces_unseen_s31_s40": ...}, threshold)."""
    metrics, threshold = faces.unseen_report(chip_embedder(model), "euclidean", figure_dir,
                                             size=None)
    return {"unseen_s31_s40": metrics,
            "eigenfaces_unseen_s31_s40": faces.eigenfaces_report()}, threshold


def chips(images) -> np.ndarray:
    """Raw faces -> float32 chips in [0, 1] (the runtime's `align` step)."""
    return align_faces(images).astype(np.float32) / 255.0


def chip_embedder(model):
    """`raw ORL faces -> embeddings`: align each face, then run `model` on the chips."""
    return lambda images: model.predict(chips(images), batch_size=32, verbose=0)
