"""benchmarks.face_transfer: the cheap pieces (chip bank, chip calibration EER
and epoch selection, best fine-tune choice, tables); no long training."""

from zoo import backend  # noqa: F401

import keras
import numpy as np
import pytest

from benchmarks import face_transfer as ft
from zoo.training.recipes import faces


@pytest.fixture(scope="module")
def two_people(orl_faces):
    """Raw faces, uint8 chips and labels of s26 and s27 (20 faces)."""
    x, y = faces.faces(faces.CALIBRATION_PEOPLE[:2], size=None)
    return x, ft.ChipBank(x), y


def tiny_tower(seed=0):
    keras.utils.set_random_seed(seed)
    image = keras.Input((150, 150, 3))
    h = keras.layers.AveragePooling2D(10)(image)
    h = keras.layers.Conv2D(4, 3, activation="relu")(h)
    h = keras.layers.GlobalAveragePooling2D()(h)
    return keras.Model(image, keras.layers.Dense(8)(h))


def test_chip_bank_looks_chips_up_by_content(two_people):
    raw, bank, _ = two_people
    assert bank.chips.shape == (20, 150, 150, 3) and bank.chips.dtype == np.uint8
    np.testing.assert_array_equal(bank.of(raw[[3, 1]]), bank.chips[[3, 1]])
    other = raw[:2] // 2 + 1  # not in the bank: aligned on the spot
    assert bank.of(other).shape == (2, 150, 150, 3)


def test_calibration_scores_on_chips(two_people):
    _, bank, y = two_people
    value, gap = ft.calibration_scores(tiny_tower(), bank.chips, y)
    assert 0.0 <= value <= 1.0 and np.isfinite(gap)
    # an "embedding" that is the label itself separates every pair
    value, gap = ft.calibration_scores(LabelEmbedder(y), bank.chips, y)
    assert value == 0.0 and gap == pytest.approx(np.sqrt(2.0))


class LabelEmbedder:
    """A stand-in tower whose embedding of face i is the one-hot of its label."""

    def __init__(self, labels):
        self.labels = np.asarray(labels)

    def predict(self, x, **kwargs):
        assert len(x) == len(self.labels) and x.dtype == np.float32 and x.max() <= 1.0
        return np.eye(self.labels.max() + 1, dtype=np.float32)[self.labels]


def test_callback_keeps_the_best_epoch_and_restores_it(two_people):
    _, bank, y = two_people
    tower = tiny_tower()
    callback = ft.ChipCalibrationEER(tower, bank.chips, y)
    callback.set_model(tower)
    callback.on_train_begin()
    weights = [tower.get_weights()]
    logs = {}
    callback.on_epoch_end(0, logs)
    assert set(logs) == {"calibration_eer", "calibration_gap"}
    first = callback.best
    tower.set_weights([w + np.random.default_rng(1).normal(0, 1, w.shape) for w in weights[0]])
    callback.on_epoch_end(1, {})
    assert len(callback.history) == 2 and len(callback.initial) == 2
    best_weights = weights[0] if callback.best == first else tower.get_weights()
    tower.set_weights([np.zeros_like(w) for w in weights[0]])
    callback.on_train_end()
    assert callback.best_epoch in (1, 2)
    for a, b in zip(tower.get_weights(), best_weights):
        np.testing.assert_array_equal(a, b)


def fake_results():
    row = {"method": "m", "top1": 0.99, "epochs": 3, "train_seconds": 1.0, "seconds": 2.0,
           "note": ""}
    metrics = dict.fromkeys(ft.UNSEEN_KEYS, 0.5)
    unseen = {
        "frozen": {"method": "frozen", "metrics": {**metrics, "verify_eer": 0.0044},
                   "calibration_eer": 0.0, "calibration_gap": 0.08, "threshold": 0.6, "epochs": 0,
                   "train_seconds": 0.0},
        "fine_tune_1e-05": {"method": "lr 1e-5", "metrics": {**metrics, "verify_eer": 0.003},
                            "calibration_eer": 0.0, "calibration_gap": 0.09, "epochs": 4,
                            "threshold": 0.6,
                            "selected_epoch": 2, "train_seconds": 9.0},
        "fine_tune_0.0001": {"method": "lr 1e-4", "metrics": {**metrics, "verify_eer": 0.001},
                             "calibration_eer": 0.0, "calibration_gap": 0.1, "epochs": 4,
                             "threshold": 1.5,
                             "selected_epoch": 4, "train_seconds": 9.0},
    }
    return {"closed_set": {"frozen_knn": row, "scratch": {**row, "top1": None,
                                                          "note": "diverged"}},
            "unseen": unseen, "settings": {"a": "b"}}


def test_best_fine_tune_is_picked_on_calibration_people_only():
    # lr 1e-4 has the better unseen EER and the larger gap, but not relative to
    # its threshold
    assert ft.best_fine_tune(fake_results()["unseen"]) == "fine_tune_1e-05"
    assert ft.best_fine_tune({"frozen": {}}) is None


def test_report_tables():
    text = ft.report(fake_results())
    assert "| frozen | 0.0044 |" in text and "| 4 (best: 2) |" in text
    assert "| m | n/a | 3 | 1 | diverged |" in text
    assert "lr 1e-5): EER 0.0030 on s31-s40 vs frozen 0.0044: better" in text
    assert "goal EER <= 0.01 met." in text and "Settings: a: b." in text
