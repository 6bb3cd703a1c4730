"""Transfer learning from face_resnet (dlib's face ResNet) on ORL.

    python -m benchmarks.face_transfer [--fresh]

Two tables, every face aligned once into a 150x150 chip (framed-face box,
5-point landmarks; `zoo.training.recipes.face_resnet.chips`) and the chips reused:

1. ORL 5/5 closed set (all 40 people, `orl_five_five_split(0)`, the split of
   `benchmarks.faces`): frozen face_resnet + 1-NN, approach 1 (frozen + new
   head), approach 2 (that head, then `unfreeze_top` at 1e-4), and the same
   architecture trained from scratch with a softmax head.
2. Unseen people s31-s40: approach 2 as a metric fine-tune (triplet loss on
   P x K batches of s1-s25, only `TOP_LAYERS` trainable, the epoch picked by
   the verification EER on s26-s30) and the architecture from scratch with the
   same loss, next to the frozen network, all measured by `faces.unseen_report`.
   The frozen network already has EER 0 on s26-s30, so the epoch (and the
   fine-tune among those tried) is picked by the EER, then by the gap between
   the nearest impostor pair and the farthest genuine pair of s26-s30 ("gap";
   across runs relative to the calibrated threshold). Never on s31-s40.

Training is slow on CPU (a forward pass of the 5.6M-weight network is about
40 ms per chip on 2 cores), so the epochs are few; each row records its epochs
and training seconds. Results are cached row by row in
runs/bench_face_transfer/results.json; `--fresh` re-trains.
"""

import argparse
import functools
import hashlib
import json
import tempfile
import time
from pathlib import Path

from zoo import backend  # noqa: F401

import keras
import numpy as np

from benchmarks.common import markdown
from zoo.training.datasets import orl_five_five_split, to_float
from zoo.training.recipes import faces
from zoo.training.recipes.metric import pk_epochs
from zoo.training.runner import TrainingDivergedError, fit
from zoo.evaluation import closed_set_top1, eer
from zoo.faces.align import align_faces
from zoo.io import atomic_write_text
from zoo.losses.triplet import TripletLoss
from zoo.models.face_resnet import (
    TOP_LAYERS,
    build_face_resnet,
    build_face_resnet_classifier,
    unfreeze_top,
)

SEED = 0
RESULTS = Path(__file__).resolve().parents[1] / "runs" / "bench_face_transfer" / "results.json"
# Closed set: 200 training chips in batches of 25 (8 steps per epoch).
BATCH_SIZE = 25
HEAD_EPOCHS, FINE_TUNE_EPOCHS, FINE_TUNE_LEARNING_RATE = 30, 10, 1e-4
SCRATCH_EPOCHS, LONG_SCRATCH_EPOCHS = 5, 20  # the second run once time allowed it
# Metric fine-tune on s1-s25: P x K = 10 people x 4 chips, 6 steps (240 chips) per epoch.
P, K, STEPS = 10, 4, 6
# dlib's loss: same person below 0.6 - 0.04, different above 0.6 + 0.04; the
# triplet margin is that gap, 0.08, on dlib's (unnormalised) euclidean scale.
MARGIN, MINING = 0.08, "all"
METRIC_EPOCHS, METRIC_LEARNING_RATES = 15, (1e-5, 1e-4)
# Tried as well (after the two above): (learning rate, margin, mining, augment):
# a wider margin with batch-hard mining, and the low rate without augmentation
# (dlib's network expects aligned chips; the augmenter shifts and zooms them).
EXTRA_FINE_TUNES = ((1e-4, 0.2, "hard", True), (1e-5, MARGIN, MINING, False))
METRIC_SCRATCH_EPOCHS, METRIC_SCRATCH_LEARNING_RATE = 5, 1e-3

SETTINGS = {
    "closed_set": f"head: Adam 1e-3, batch {BATCH_SIZE}, augmented (faces.augmenter); "
                  f"fine-tune: unfreeze_top {'/'.join(TOP_LAYERS)} at Adam "
                  f"{FINE_TUNE_LEARNING_RATE:g}",
    "metric": f"TripletLoss(margin={MARGIN}, mining={MINING!r}, distance='euclidean'), "
              f"P x K = {P} x {K}, {STEPS} steps per epoch, augmented; fine-tune: only "
              f"{'/'.join(TOP_LAYERS)} trainable, Adam "
              f"{' or '.join(f'{r:g}' for r in METRIC_LEARNING_RATES)}"
              + "".join(f", and Adam {r:g} with margin {m:g}, mining {g!r}"
                        + ("" if a else ", not augmented")
                        for r, m, g, a in EXTRA_FINE_TUNES) + "; scratch: "
              f"every weight, Adam {METRIC_SCRATCH_LEARNING_RATE:g}; epoch picked by the "
              "verification EER over every pair of s26-s30's chips (ties: the larger gap "
              "between the nearest impostor and the farthest genuine pair)",
}


class ChipBank:
    """Every ORL face (raw 112x92) aligned once; later look-ups by content.

    `faces.unseen_report` passes raw faces to its `embed`; `embedder(model)`
    looks their chips up here instead of aligning them again.
    """

    def __init__(self, raw=None):
        raw = faces.faces(size=None)[0] if raw is None else raw
        self.chips = align_faces(raw)  # uint8 [N, 150, 150, 3]
        self.index = {self._key(face): i for i, face in enumerate(raw)}

    @staticmethod
    def _key(face):
        return hashlib.sha1(np.ascontiguousarray(face).tobytes()).hexdigest()

    def of(self, raw) -> np.ndarray:
        """uint8 chips of raw faces (aligned now if not in the bank)."""
        rows = [self.index.get(self._key(face)) for face in raw]
        if all(r is not None for r in rows):
            return self.chips[rows]
        return align_faces(raw)

    def embedder(self, model):
        """`raw faces -> embeddings` of `model` over their chips."""
        return lambda raw: predict(model, self.of(raw))


def predict(model, chips_uint8) -> np.ndarray:
    return model.predict(chips_uint8.astype(np.float32) / 255.0, batch_size=32, verbose=0)


def calibration_scores(tower, chips_uint8, labels) -> tuple:
    """(EER, gap) of `tower` (euclidean) over every pair of the chips; the gap is
    the nearest impostor pair's distance minus the farthest genuine pair's
    (> 0 when a threshold separates every pair)."""
    scores, same = faces.all_pair_scores(predict(tower, chips_uint8), np.asarray(labels),
                                         "euclidean")
    gap = float(scores[same == 0].min() - scores[same == 1].max())
    return float(eer(scores, same, direction="less")), gap


def calibration_eer(tower, chips_uint8, labels) -> float:
    """Verification EER (euclidean) of `tower` over every pair of the chips."""
    return calibration_scores(tower, chips_uint8, labels)[0]


class ChipCalibrationEER(keras.callbacks.Callback):
    """The chip version of `faces.select_on_calibration_people`.

    Logs `calibration_eer` of `tower` on the calibration chips (and
    `calibration_gap`, see `calibration_scores`) before training (`initial`)
    and after each epoch, keeps the tower's weights of the best trained epoch
    (lowest EER; ties, e.g. several epochs at EER 0, go to the larger gap) and
    restores them when training ends.

    Args:
        tower: the embedding model being trained (maybe inside a wrapper).
        chips: uint8 chips of the calibration people (never trained on).
        labels: their labels.
    """

    def __init__(self, tower, chips, labels):
        super().__init__()
        self.tower, self.chips, self.labels = tower, chips, np.asarray(labels)
        self.initial, self.history = None, []
        self.best_epoch, self.best, self._weights = None, (np.inf, np.inf), None

    def on_train_begin(self, logs=None):
        if self.initial is None:
            self.initial = calibration_scores(self.tower, self.chips, self.labels)

    def on_epoch_end(self, epoch, logs=None):
        value, gap = calibration_scores(self.tower, self.chips, self.labels)
        self.history.append((round(value, 4), round(gap, 4)))
        if logs is not None:
            logs["calibration_eer"] = value
            logs["calibration_gap"] = gap
        if (value, -gap) < self.best:
            self.best, self.best_epoch = (value, -gap), epoch + 1
            self._weights = self.tower.get_weights()

    def on_train_end(self, logs=None):
        if self._weights is not None:
            self.tower.set_weights(self._weights)


# -- 1. ORL 5/5 closed set -------------------------------------------------------------
def five_five_chips(bank, seed=SEED) -> dict:
    """{"train", "test"}: uint8 chips and labels of the ORL 5/5 split (40 people)."""
    _, y = faces.faces(size=None)
    train, test = orl_five_five_split(seed)
    return {"train": (bank.chips[train], y[train]), "test": (bank.chips[test], y[test])}


def classifier_top1(model, split) -> float:
    x, y = split["test"]
    return float(np.mean(np.argmax(predict(model, x), axis=1) == y))


def knn_row(bank, split, folder):
    start = time.perf_counter()
    tower = build_face_resnet("dlib")
    (x, y), (xt, yt) = split["train"], split["test"]
    top1 = closed_set_top1(predict(tower, x), y, predict(tower, xt), yt, "euclidean")
    return {"frozen_knn": _row("frozen face_resnet + 1-NN (euclidean, 200 training faces)",
                               top1, 0, 0.0, time.perf_counter() - start)}


def transfer_rows(bank, split, folder):
    """Approach 1, then approach 2 continuing from approach 1's head."""
    keras.utils.set_random_seed(SEED)
    model = build_face_resnet_classifier("dlib", num_classes=40)
    x, y = split["train"]
    start = time.perf_counter()
    run = faces.train_classifier(model, x, y, folder / "head", epochs=HEAD_EPOCHS,
                                 batch_size=BATCH_SIZE, seed=SEED,
                                 config={"benchmark": "face_transfer", "phase": "head"})
    head_seconds = run.seconds
    rows = {"approach_1": _row("approach 1: frozen face_resnet + new head (64 ReLU, softmax)",
                               classifier_top1(model, split), HEAD_EPOCHS, head_seconds,
                               time.perf_counter() - start)}
    unfreeze_top(model, FINE_TUNE_LEARNING_RATE)
    run = faces.train_classifier(model, x, y, folder / "fine_tune", epochs=FINE_TUNE_EPOCHS,
                                 batch_size=BATCH_SIZE, seed=SEED,
                                 config={"benchmark": "face_transfer", "phase": "fine_tune"})
    rows["approach_2"] = _row(
        f"approach 2: that head, then unfreeze_top ({', '.join(TOP_LAYERS)}) at "
        f"{FINE_TUNE_LEARNING_RATE:g}", classifier_top1(model, split),
        f"{HEAD_EPOCHS} + {FINE_TUNE_EPOCHS}", head_seconds + run.seconds,
        time.perf_counter() - start)
    return rows


def scratch_row(bank, split, folder, epochs=SCRATCH_EPOCHS, key="scratch"):
    keras.utils.set_random_seed(SEED)
    model = build_face_resnet_classifier("none", num_classes=40, trainable=True)
    start = time.perf_counter()
    name = "face_resnet architecture from scratch (weights='none') + softmax head"
    try:
        run = faces.train_classifier(model, *split["train"], folder / key, epochs=epochs,
                                     batch_size=BATCH_SIZE, seed=SEED,
                                     config={"benchmark": "face_transfer", "phase": key})
    except TrainingDivergedError as error:
        return {key: _row(name, None, epochs, time.perf_counter() - start,
                          time.perf_counter() - start, note=f"diverged: {error}")}
    return {key: _row(name, classifier_top1(model, split), epochs, run.seconds,
                      time.perf_counter() - start)}


def _row(method, top1, epochs, train_seconds, seconds, note=""):
    return {"method": method, "top1": None if top1 is None else round(float(top1), 4),
            "epochs": epochs, "train_seconds": round(float(train_seconds), 1),
            "seconds": round(float(seconds), 1), "note": note}


CLOSED_SET = (("frozen_knn", knn_row), ("approach_1", transfer_rows),
              ("scratch", scratch_row),
              (f"scratch_{LONG_SCRATCH_EPOCHS}",
               functools.partial(scratch_row, epochs=LONG_SCRATCH_EPOCHS,
                                 key=f"scratch_{LONG_SCRATCH_EPOCHS}")))


# -- 2. Unseen people s31-s40 ----------------------------------------------------------
def people_chips(bank, people) -> tuple:
    x, y = faces.faces(people, size=None)
    return bank.of(x), y


def unseen_entry(bank, tower, name, epochs, train_seconds, start, **extra) -> dict:
    metrics, threshold = faces.unseen_report(bank.embedder(tower), "euclidean", size=None)
    return {"method": name, "metrics": metrics, "threshold": round(float(threshold["value"]), 4),
            "epochs": epochs, "train_seconds": round(float(train_seconds), 1),
            "seconds": round(time.perf_counter() - start, 1), **extra}


def frozen_unseen(bank, folder):
    start = time.perf_counter()
    tower = build_face_resnet("dlib")
    cal, gap = calibration_scores(tower, *people_chips(bank, faces.CALIBRATION_PEOPLE))
    return {"frozen": unseen_entry(bank, tower, "frozen face_resnet (dlib's weights)", 0, 0.0,
                                   start, calibration_eer=round(cal, 4),
                                   calibration_gap=round(gap, 4))}


def metric_train(bank, tower, folder, epochs, learning_rate, key, name, margin=MARGIN,
                 mining=MINING, augment=True):
    """Triplet training of `tower` on s1-s25's chips, epoch picked on s26-s30."""
    tower.compile(optimizer=keras.optimizers.Adam(learning_rate),
                  loss=TripletLoss(margin, mining=mining, distance="euclidean"))
    x, y = people_chips(bank, faces.FIT_PEOPLE)
    select = ChipCalibrationEER(tower, *people_chips(bank, faces.CALIBRATION_PEOPLE))
    start = time.perf_counter()
    extra = {}
    try:
        config = {"benchmark": "face_transfer", "phase": key}
        if augment:
            run = faces.train_metric(tower, x, y, folder / key, epochs=epochs, steps=STEPS, p=P,
                                     k=K, seed=SEED, config=config, callbacks=[select])
        else:
            run = fit(tower, pk_epochs(to_float(x), y, P, K, STEPS, SEED), epochs=epochs,
                      run_dir=folder / key, seed=SEED, config=config, callbacks=[select])
        train_seconds = run.seconds
        extra["loss"] = [round(float(v), 4) for v in run.history.get("loss", [])]
    except TrainingDivergedError as error:
        train_seconds = time.perf_counter() - start
        extra["note"] = f"diverged: {error}"
    return {key: unseen_entry(bank, tower, name, epochs, train_seconds, start,
                              calibration_before=[round(v, 4) for v in select.initial],
                              calibration_per_epoch=select.history,
                              selected_epoch=select.best_epoch,
                              calibration_eer=round(float(select.best[0]), 4),
                              calibration_gap=round(float(-select.best[1]), 4), **extra)}


def metric_fine_tune(bank, folder, learning_rate, margin=MARGIN, mining=MINING, augment=True):
    keras.utils.set_random_seed(SEED)
    tower = build_face_resnet("dlib", name="embed")
    for layer in tower.layers:
        layer.trainable = layer.name in TOP_LAYERS
    loss = "" if (margin, mining) == (MARGIN, MINING) else f", margin {margin:g}, {mining}"
    return metric_train(bank, tower, folder, METRIC_EPOCHS, learning_rate,
                        fine_tune_key(learning_rate, margin, mining, augment),
                        f"approach 2: triplet fine-tune of {', '.join(TOP_LAYERS)} on s1-s25, "
                        f"Adam {learning_rate:g}{loss}{'' if augment else ', not augmented'}",
                        margin, mining, augment)


def fine_tune_key(learning_rate, margin=MARGIN, mining=MINING, augment=True) -> str:
    loss = "" if (margin, mining) == (MARGIN, MINING) else f"_m{margin:g}_{mining}"
    return f"fine_tune_{learning_rate:g}{loss}{'' if augment else '_noaug'}"


def metric_scratch(bank, folder):
    keras.utils.set_random_seed(SEED)
    tower = build_face_resnet("none", name="embed")
    return metric_train(bank, tower, folder, METRIC_SCRATCH_EPOCHS, METRIC_SCRATCH_LEARNING_RATE,
                        "scratch", "face_resnet architecture from scratch, triplet on s1-s25")


UNSEEN = (("frozen", frozen_unseen),
          *((fine_tune_key(r), functools.partial(metric_fine_tune, learning_rate=r))
            for r in METRIC_LEARNING_RATES),
          *((fine_tune_key(r, m, g, a), functools.partial(metric_fine_tune, learning_rate=r,
                                                         margin=m, mining=g, augment=a))
            for r, m, g, a in EXTRA_FINE_TUNES),
          ("scratch", metric_scratch))


# -- cache, tables ---------------------------------------------------------------------
def measured(fresh=False, parts=None) -> dict:
    """Every row, cached in `RESULTS` after each one; `fresh` re-trains."""
    cached = json.loads(RESULTS.read_text()) if RESULTS.exists() and not fresh else {}
    cached.setdefault("closed_set", {})
    cached.setdefault("unseen", {})
    cached["settings"] = SETTINGS
    todo = [(part, key, fn) for part, table in (("closed_set", CLOSED_SET), ("unseen", UNSEEN))
            for key, fn in table
            if key not in cached[part] and (parts is None or f"{part}.{key}" in parts)]
    if parts is not None:  # in the order asked for
        todo.sort(key=lambda t: list(parts).index(f"{t[0]}.{t[1]}"))
    if not todo:
        return cached
    bank = ChipBank()
    split = five_five_chips(bank)
    with tempfile.TemporaryDirectory() as tmp:
        for part, key, fn in todo:
            folder = Path(tmp) / part
            rows = fn(bank, split, folder) if part == "closed_set" else fn(bank, folder)
            cached[part].update(rows)
            RESULTS.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(RESULTS, json.dumps(cached, indent=2))
    return cached


def closed_set_table(rows: dict) -> str:
    order = ("frozen_knn", "approach_1", "approach_2", "scratch",
             f"scratch_{LONG_SCRATCH_EPOCHS}")
    table = [(r["method"], "n/a" if r["top1"] is None else r["top1"], r["epochs"],
              f"{r['train_seconds']:.0f}", r["note"] or "")
             for r in (rows[k] for k in order if k in rows)]
    return markdown(table, ("method", "top-1", "epochs", "training s", "note"))


UNSEEN_KEYS = ("verify_eer", "verify_roc_auc", "verify_tar_at_far_1e-2", "top1_enroll_1",
               "top1_enroll_5", "open_set_dir_at_far_1e-2")


def unseen_table(rows: dict) -> str:
    table = []
    known = [k for k, _ in UNSEEN]
    picked_row = best_fine_tune(rows)
    for key in sorted(rows, key=lambda k: (known.index(k) if k in known else len(known), k)):
        r = rows[key]
        picked = "" if r.get("selected_epoch") is None else f" (best: {r['selected_epoch']})"
        mark = " **(picked on s26-s30)**" if key == picked_row else ""
        table.append((r["method"] + mark, *(r["metrics"][k] for k in UNSEEN_KEYS),
                      r["calibration_eer"], r.get("calibration_gap", "n/a"), r["threshold"],
                      f"{r['epochs']}{picked}", f"{r['train_seconds']:.0f}"))
    return markdown(table, ("model", "EER", "ROC AUC", "TAR @ FAR 1e-2", "top-1, 1 image",
                            "top-1, 5 images", "DIR @ FAR 1e-2", "EER s26-s30",
                            "gap s26-s30", "threshold", "epochs", "training s"))


def report(results: dict) -> str:
    lines = [f"### Transfer from face_resnet (ORL, 150x150 aligned chips; seed {SEED})\n",
             "Closed set, ORL 5/5 protocol (all 40 people, 200 train / 200 test faces, "
             "the split of the 56x46 table):\n",
             closed_set_table(results["closed_set"]),
             "\nUnseen people s31-s40 (trained on s1-s25, epoch and threshold on s26-s30; "
             f"identification means over {faces.REPEATS} seeded enrollment draws):\n",
             unseen_table(results["unseen"])]
    unseen = results["unseen"]
    tuned = best_fine_tune(unseen)
    if "frozen" in unseen and tuned:
        frozen, metrics = unseen["frozen"]["metrics"], unseen[tuned]["metrics"]
        better = metrics["verify_eer"] < frozen["verify_eer"]
        lines.append(f"\nFine-tune picked on s26-s30 ({unseen[tuned]['method']}): EER "
                     f"{metrics['verify_eer']:.4f} on s31-s40 vs frozen "
                     f"{frozen['verify_eer']:.4f}: "
                     + ("better than the frozen network" if better else
                        "does NOT beat the frozen network")
                     + f"; goal EER <= 0.01 "
                     + ("met." if metrics["verify_eer"] <= 0.01 else "MISSED."))
    lines.append("\nSettings: " + "; ".join(f"{k}: {v}" for k, v in
                                            results.get("settings", SETTINGS).items()) + ".")
    return "\n".join(lines) + "\n"


def best_fine_tune(unseen: dict):
    """The fine-tune row picked on the calibration people only, or None:
    lowest EER on s26-s30, then the larger gap relative to the row's
    calibrated threshold (runs with other margins may scale the distances)."""
    keys = [k for k in unseen if k.startswith("fine_tune")]
    if not keys:
        return None
    return min(keys, key=lambda k: (unseen[k]["calibration_eer"],
                                    -unseen[k].get("calibration_gap", 0.0)
                                    / unseen[k].get("threshold", 1.0)))


def run(from_cards=False, fresh=False) -> str:
    """Train (or read the cached) rows and return the Markdown section.
    `from_cards` is accepted like the other benchmarks (nothing here is published)."""
    return report(measured(fresh))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fresh", action="store_true",
                        help="re-train every row instead of reading runs/bench_face_transfer")
    parser.add_argument("--only", nargs="*", default=None,
                        help="rows to measure now, e.g. closed_set.frozen_knn unseen.fine_tune")
    args = parser.parse_args()
    results = measured(args.fresh, args.only)
    print(report(results))
