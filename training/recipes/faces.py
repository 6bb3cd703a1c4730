"""What the face recipes share: ORL at 56x46, the people splits, augmented
training, and the unseen-people evaluation.

People (ORL folder s{k} is label k - 1):
- source s1-s30: `face_embed` trains on s1-s25 and calibrates its threshold
  on s26-s30, people it never trained on (so the threshold transfers);
- unseen s31-s40: every reported figure. Their 5/5 split (seeded) gives the
  enrollment / training half and the test half of the identification entries.
"""

from __future__ import annotations

import functools
from pathlib import Path

from zoo import backend  # noqa: F401

import keras
import numpy as np
from sklearn.decomposition import PCA

from zoo.training.datasets import load_orl_faces, resize, stratified_split, to_float
from zoo.training.recipes.metric import pk_epochs
from zoo.training.runner import array_epochs, fit
from zoo.evaluation import closed_set_top1, eer, open_set_dir_at_far, verification_report
from zoo.evaluation.verification import accuracy_at_threshold, plot_roc
from zoo.models.transfer import unfreeze

FACE_SIZE = (56, 46)
FIT_PEOPLE = np.arange(0, 25)          # s1-s25
CALIBRATION_PEOPLE = np.arange(25, 30)  # s26-s30
UNSEEN_PEOPLE = np.arange(30, 40)       # s31-s40
UNSEEN_NAMES = [f"s{p + 1}" for p in UNSEEN_PEOPLE]
THRESHOLD_RULE = ("far", 1e-2)
REPEATS = 10  # seeded draws of the enrollment images / enrolled people
EIGENFACES = 50  # PCA components of the eigenfaces baseline


@functools.lru_cache(maxsize=1)
def _faces():
    x, y = load_orl_faces()
    return resize(x, FACE_SIZE), y


@functools.lru_cache(maxsize=1)
def _full_faces():
    return load_orl_faces()


def faces(people=None, size=FACE_SIZE) -> tuple:
    """ORL faces (uint8) and labels, optionally of `people` only.

    Args:
        people: labels to keep, or None for all 40 people.
        size: `FACE_SIZE` (56x46, area-averaged), or None for ORL's own 112x92.
    """
    x, y = _faces() if size == FACE_SIZE else _full_faces()
    if size not in (FACE_SIZE, None):
        raise ValueError(f"size must be FACE_SIZE or None. Received: size={size!r}")
    if people is None:
        return x, y
    keep = np.isin(y, people)
    return x[keep], y[keep]


def unseen_split(seed=0, size=FACE_SIZE) -> dict:
    """{"train", "test"}: the 5/5 split of the unseen people s31-s40, labels 0..9,
    faces at `size` (see `faces`)."""
    x, y = faces(UNSEEN_PEOPLE, size)
    y = y - UNSEEN_PEOPLE[0]
    train, test = stratified_split(y, 5, seed)
    return {"train": (x[train], y[train]), "test": (x[test], y[test])}


def unseen_dataset_card(seed, backbone="face_resnet (dlib's, about 3M faces)") -> dict:
    return {"name": "orl_faces",
            "train": f"unseen people s31-s40, 5 images each (orl 5/5 split, seed {seed}); "
                     f"backbone from {backbone}",
            "eval": "the other 5 images of each of s31-s40 (50 faces)"}


def augmenter(seed=0, name="augment"):
    """Random flips, shifts, small rotations and zooms (training only)."""
    return keras.Sequential([
        keras.layers.RandomFlip("horizontal", seed=seed),
        keras.layers.RandomTranslation(0.06, 0.06, fill_mode="nearest", seed=seed + 1),
        keras.layers.RandomRotation(0.03, fill_mode="nearest", seed=seed + 2),
        keras.layers.RandomZoom(0.08, fill_mode="nearest", seed=seed + 3),
    ], name=name)


def augmented(model, seed=0):
    """A training wrapper `image -> model(augment(image))`, compiled like `model`.

    The wrapper shares `model`'s layers, so training it trains `model`; only
    `model` is saved and exported.
    """
    image = keras.Input(model.input_shape[1:], name="image")
    trainer = keras.Model(image, model(augmenter(seed)(image)), name=f"{model.name}_trainer")
    trainer.compile(optimizer=model.optimizer.__class__.from_config(model.optimizer.get_config()),
                    loss=model.loss, metrics=_metrics(model))
    return trainer


def _metrics(model):
    return ["accuracy"] if model.loss == "sparse_categorical_crossentropy" else None


def train_metric(model, x, y, run_dir, *, epochs, steps, p, k, seed, config, callbacks=()):
    """Metric learning on augmented P x K batches of (x, y); returns the run."""
    return fit(augmented(model, seed), pk_epochs(to_float(x), y, p, k, steps, seed),
               epochs=epochs, run_dir=run_dir, seed=seed, config=config, callbacks=callbacks)


class CalibrationEER(keras.callbacks.Callback):
    """Logs `calibration_eer`, the verification EER of `tower` on every pair of
    the calibration people s26-s30, at the end of each epoch.

    With `keras.callbacks.EarlyStopping(monitor="calibration_eer")` it picks
    the epoch on people the model does not train on, never on the test people.

    Args:
        tower: the embedding sub-model being trained.
    """

    def __init__(self, tower):
        super().__init__()
        self.tower = tower

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["calibration_eer"] = eer(*calibration_pairs(keras_embedder(self.tower)))


def select_on_calibration_people(tower, patience):
    """[CalibrationEER, EarlyStopping]: stop when the calibration EER has not
    improved for `patience` epochs, and keep the best epoch's weights."""
    return [CalibrationEER(tower),
            keras.callbacks.EarlyStopping(monitor="calibration_eer", mode="min",
                                          patience=patience, restore_best_weights=True)]


def train_classifier(model, x, y, run_dir, *, epochs, batch_size=25, seed=0, config=None):
    """Supervised training on augmented (x, y) batches; returns the run."""
    return fit(augmented(model, seed), array_epochs(to_float(x), y, batch_size, seed=seed),
               epochs=epochs, run_dir=run_dir, seed=seed, config=config)


def train_transfer(model, x, y, run_dir, *, head_epochs, fine_tune_epochs=0,
                   fine_tune_learning_rate=1e-4, batch_size=25, seed=0, config=None,
                   unfreeze_fn=unfreeze) -> tuple:
    """Approach 1 (train the head on the frozen backbone), then, when
    `fine_tune_epochs` > 0, approach 2 (`unfreeze_fn`, e.g. `unfreeze`, then
    train on at a lower rate).

    Phases run in run_dir/head and run_dir/fine_tune.

    Returns:
        (training seconds, epochs) over both phases.
    """
    phases = [("head", head_epochs)] + ([("fine_tune", fine_tune_epochs)]
                                        if fine_tune_epochs else [])
    seconds = 0.0
    for phase, epochs in phases:
        if phase == "fine_tune":
            unfreeze_fn(model, fine_tune_learning_rate)
        run = train_classifier(model, x, y, Path(run_dir) / phase, epochs=epochs,
                               batch_size=batch_size, seed=seed,
                               config={**(config or {}), "phase": phase})
        seconds += run.seconds
    return seconds, sum(e for _, e in phases)


def top1(model, x, y) -> float:
    """Top-1 accuracy of a classifier (or identifier: argmax of its scores)."""
    scores = model.predict(to_float(x), batch_size=128, verbose=0)
    return float(np.mean(np.argmax(scores, axis=1) == y))


def keras_embedder(tower):
    """`images -> embeddings` of a Keras tower."""
    return lambda x: tower.predict(to_float(x), batch_size=128, verbose=0)


def eigenfaces(x_fit, n_components=EIGENFACES):
    """The eigenfaces baseline: `images -> PCA coefficients` fitted on `x_fit`."""
    pca = PCA(n_components=n_components, random_state=0).fit(_flat(x_fit))
    return lambda x: pca.transform(_flat(x))


def _flat(x):
    return to_float(x).reshape(len(x), -1)


def all_pair_scores(embeddings, labels, distance) -> tuple:
    """Scores and same-person labels of every unordered pair of faces."""
    i, j = np.triu_indices(len(labels), k=1)
    a, b = embeddings[i], embeddings[j]
    if distance == "cosine":
        a = a / np.linalg.norm(a, axis=1, keepdims=True)
        b = b / np.linalg.norm(b, axis=1, keepdims=True)
        scores = np.sum(a * b, axis=1)
    else:
        scores = np.linalg.norm(a - b, axis=1)
    return scores, (labels[i] == labels[j]).astype(np.int64)


def calibration_pairs(embed, distance="cosine", size=FACE_SIZE) -> tuple:
    """`all_pair_scores` of every pair of the calibration people s26-s30."""
    x, y = faces(CALIBRATION_PEOPLE, size)
    return all_pair_scores(embed(x), y, distance)


def verification(embed, distance="cosine", figure=None, size=FACE_SIZE) -> tuple:
    """1:1 verification on every pair of the unseen people's 100 faces.

    The threshold is calibrated (`THRESHOLD_RULE`) on every pair of the
    calibration people s26-s30.

    Returns:
        (metrics, threshold card entry).
    """
    direction = "greater" if distance == "cosine" else "less"
    val = calibration_pairs(embed, distance, size)
    x, y = faces(UNSEEN_PEOPLE, size)
    test = all_pair_scores(embed(x), y, distance)
    report = verification_report(*val, *test, direction=direction, rule=THRESHOLD_RULE)
    t = report["threshold"]
    genuine, impostor = test[1] == 1, test[1] == 0
    metrics = {
        "verify_eer": report["eer"], "verify_roc_auc": report["roc_auc"],
        "verify_tar_at_far_1e-2": report["tar_at_far_1e-2"],
        "verify_tar_at_threshold": accuracy_at_threshold(test[0][genuine], test[1][genuine],
                                                         t, direction),
        "verify_far_at_threshold": 1 - accuracy_at_threshold(test[0][impostor],
                                                             test[1][impostor], t, direction),
        "verify_pairs": f"{int(genuine.sum())} genuine + {int(impostor.sum())} impostor",
    }
    if figure is not None:
        plot_roc(*test, figure, direction=direction,
                 title="Unseen people s31-s40: every pair of their 100 faces")
    threshold = {"value": float(t), "direction": direction, "rule": "FAR = 0.01",
                 "calibrated_on": "every pair of the source people s26-s30 (not trained on)"}
    return _rounded(metrics), threshold


def identification(embed, distance="cosine", size=FACE_SIZE) -> dict:
    """Unseen people s31-s40: closed-set top-1 with 1, 3 and 5 enrollment images,
    and open-set DIR at FAR 1e-2 (5 people enrolled with 5 images, the other 5
    people as impostors), each the mean over `REPEATS` seeded draws."""
    x, y = faces(UNSEEN_PEOPLE, size)
    e = embed(x)
    metrics = {}
    for k in (1, 3, 5):
        rates = []
        for r in range(REPEATS):
            enrolled, probes = stratified_split(y, k, seed=r)[::-1]
            rates.append(closed_set_top1(e[enrolled], y[enrolled], e[probes], y[probes],
                                         distance))
        metrics[f"top1_enroll_{k}"] = float(np.mean(rates))
    rates, fars = [], []
    for r in range(REPEATS):
        people = np.random.default_rng(r).permutation(UNSEEN_PEOPLE)[:5]
        enrolled, _ = stratified_split(y, 5, seed=r)[::-1]
        enrolled = enrolled[np.isin(y[enrolled], people)]
        probes = np.setdiff1d(np.arange(len(y)), enrolled)
        result = open_set_dir_at_far(e[enrolled], y[enrolled], e[probes], y[probes],
                                     far=1e-2, distance=distance)
        rates.append(result["dir"])
        fars.append(result["far"])
    metrics["open_set_dir_at_far_1e-2"] = float(np.mean(rates))
    metrics["open_set_far"] = float(np.mean(fars))
    return _rounded(metrics)


def _rounded(metrics):
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in metrics.items()}


def unseen_report(embed, distance="cosine", figure_dir=None, size=FACE_SIZE) -> tuple:
    """(metrics, threshold): `verification` and `identification` of `embed`, which
    takes faces at `size` (see `faces`)."""
    figure = None if figure_dir is None else Path(figure_dir) / "roc.png"
    metrics, threshold = verification(embed, distance, figure, size)
    metrics.update(identification(embed, distance, size))
    return metrics, threshold


def eigenfaces_report() -> dict:
    """`unseen_report` of the eigenfaces baseline (PCA fitted on s1-s30)."""
    embed = eigenfaces(faces(np.concatenate([FIT_PEOPLE, CALIBRATION_PEOPLE]))[0])
    return unseen_report(embed, distance="euclidean")[0]
