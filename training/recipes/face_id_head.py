"""face_id_head: transfer learning approach 1 on the unseen people s31-s40.

`face_resnet` (dlib's weights) is frozen (`trainable=False`, called with
`training=False`) and topped with a new head trained on the aligned chips of 5
faces per person. `face_id_finetune` reuses this recipe and then fine-tunes
the top of the network (`zoo.models.face_resnet.unfreeze_top`).
"""

import numpy as np

from zoo.training.recipes import faces
from zoo.training.recipes.common import save_result, seeded_model
from zoo.training.recipes.face_resnet import chips
from zoo.evaluation import calibrate_threshold
from zoo.faces.align import align_faces
from zoo.models.face_resnet import unfreeze_top

HEAD_EPOCHS, FINE_TUNE_EPOCHS, BATCH_SIZE = 150, 50, 10  # 50 faces: 5 steps per epoch
FINE_TUNE_LEARNING_RATE = 1e-4  # a tenth of the head's
EPOCHS = HEAD_EPOCHS
dataset_card = faces.unseen_dataset_card


def train(run_dir, epochs=None, seed=0, quick=False, fine_tune=False, name="face_id_head"):
    """Train the head (and, with `fine_tune`, then the top layers) on the unseen
    people's enrollment half; measure top-1 on their test half.

    Args:
        run_dir: the run folder (phases in run_dir/head and run_dir/fine_tune).
        epochs: override the epochs of each phase.
        seed: seeds the split, the batches, the augmentation and the head.
        quick: fresh tower weights (the tiny config), 1 epoch per phase.
        fine_tune: approach 2: unfreeze the top layers and train on at a lower rate.
        name: the registry entry.
    """
    import zoo

    model = seeded_model(name, seed, **(zoo.info(name).tiny if quick else {}))
    x, y = faces.unseen_split(seed, size=None)["train"]
    head, tune = (1, 1) if quick else (epochs or HEAD_EPOCHS, epochs or FINE_TUNE_EPOCHS)
    seconds, total = faces.train_transfer(
        model, align_faces(x), y, run_dir, head_epochs=head,
        fine_tune_epochs=tune if fine_tune else 0, fine_tune_learning_rate=FINE_TUNE_LEARNING_RATE,
        batch_size=BATCH_SIZE, seed=seed, config={"model": name, "quick": quick},
        unfreeze_fn=unfreeze_top)
    metrics, threshold = evaluate_with_threshold(model, seed)
    return save_result(run_dir, model, metrics=metrics, seconds=seconds, epochs=total,
                       seed=seed, dataset=faces.unseen_dataset_card(seed), threshold=threshold,
                       classes=faces.UNSEEN_NAMES)


def evaluate(model, seed=0):
    """Top-1 accuracy on the test half of the unseen people's 5/5 split, and
    the open-set rate at the threshold of `evaluate_with_threshold`."""
    return evaluate_with_threshold(model, seed)[0]


def evaluate_with_threshold(model, seed=0):
    """(metrics, threshold) of a classifier over the unseen people.

    The threshold makes it open set: a face whose top probability is below it
    is "unknown". It is the most permissive value that accepts at most 1% of
    the calibration people's faces (s26-s30, none of them a class), with the
    training faces as the genuine side. `dir_at_threshold` is the share of
    test faces both accepted and named correctly.
    """
    def top(x):
        return model.predict(chips(x), batch_size=32, verbose=0)

    split = faces.unseen_split(seed, size=None)
    enrolled, _ = split["train"]
    impostors, _ = faces.faces(faces.CALIBRATION_PEOPLE, size=None)
    scores = np.concatenate([top(enrolled).max(1), top(impostors).max(1)])
    labels = np.r_[np.ones(len(enrolled)), np.zeros(len(impostors))]
    value = calibrate_threshold(scores, labels, "greater", faces.THRESHOLD_RULE)
    x, y = split["test"]
    probabilities = top(x)
    right = probabilities.argmax(1) == y
    hit = right & (probabilities.max(1) >= value)
    metrics = {"test": {"top1": round(float(right.mean()), 4),
                        "dir_at_threshold": round(float(hit.mean()), 4), "n": int(len(y))}}
    threshold = {"value": float(value), "direction": "greater", "rule": "FAR = 0.01",
                 "calibrated_on": "top probability of the 50 training faces (genuine) and "
                                  "of the 50 faces of s26-s30 (impostors)"}
    return metrics, threshold
