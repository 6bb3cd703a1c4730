"""face_detector: dlib's MMOD CNN face detector, converted (not trained here) and measured.

`zoo train face_detector` reads `mmod_human_face_detector.dat` from the pinned package
(sha256-checked), builds the Keras score-map network and measures detection on
seeded scenes of ORL faces (`zoo.training.datasets.face_scenes`: 0-4 faces per 640x480
scene, scale 0.5-3x, rotation +-20 degrees, brightness, contrast and noise): a
detection is right when its IoU with a ground-truth box is at least 0.5.
"""

import time

import numpy as np

from zoo.training.recipes.common import save_result, seeded_model

SCENES, QUICK_SCENES, SEED = 24, 2, 1234
IOU = 0.5
EPOCHS = 0  # converted from dlib, not trained


def train(run_dir, epochs=None, seed=0, quick=False):
    """Convert, then measure recall and precision on the seeded scenes.

    Args:
        run_dir: the run folder.
        epochs: unused (nothing is trained); accepted like every recipe.
        seed: seeds the weights of a quick run (the scenes keep their own seed).
        quick: fresh weights (the tiny config) and two small scenes.
    """
    import zoo

    start = time.perf_counter()
    model = seeded_model("face_detector", seed, **(zoo.info("face_detector").tiny if quick else {}))
    metrics = evaluate(model, scenes=QUICK_SCENES if quick else SCENES,
                       shape=(120, 160) if quick else (480, 640))
    return save_result(
        run_dir, model, metrics=metrics, seconds=time.perf_counter() - start, epochs=0, seed=seed,
        notes={"weights": "fresh (quick run)" if quick else
               "mmod_human_face_detector.dat from face-recognition-models 0.3.0 (CC0), "
               "converted; not trained here",
               "licence": "CC0 1.0 (dlib's model files, as shipped by face-recognition-models)",
               "minimum_face": "80x80 pixels (the detector window) at upsample=0; each "
                               "upsampling halves it"},
        dataset=dataset_card(seed))


def dataset_card(seed=0, quick=False) -> dict:
    """The card's `dataset` (the scenes' seed is fixed, not the run's)."""
    return {"name": "orl_faces",
            "train": "none (dlib trained it on its own face detection data set)",
            "eval": f"{SCENES} seeded 640x480 scenes of ORL faces (seed {SEED}): 0-4 faces, "
                    "scale 0.5-3x, rotation +-20 deg, brightness/contrast/noise; IoU >= 0.5"}


def evaluate(model, scenes=SCENES, shape=(480, 640)):
    """Detection recall and precision of `model` on the seeded scenes, at upsample 0 and 1.

    Args:
        model: the Keras score-map model.
        scenes: how many scenes.
        shape: (rows, cols) of each scene.
    """
    from zoo.training.datasets.face_scenes import face_scenes, match_counts
    from zoo.faces.detector import FaceDetector

    detector = FaceDetector(lambda tile: np.asarray(model(tile, training=False)))
    data = face_scenes(scenes, seed=SEED, shape=shape, scale=(0.5, 3.0) if shape[0] >= 336 else (0.5, 1.0))
    out = {}
    for upsample in (0, 1):
        tp = fp = total = 0
        for scene in data:
            found = [d.box for d in detector.detect(scene.image, upsample)]
            hit, miss = match_counts(found, scene.boxes, IOU)
            tp, fp, total = tp + hit, fp + miss, total + len(scene.boxes)
        out[f"orl_scenes_upsample_{upsample}"] = {
            "recall": round(tp / max(total, 1), 4), "precision": round(tp / max(tp + fp, 1), 4),
            "faces": total, "detections": tp + fp, "scenes": len(data)}
    return out
