"""What every recipe does after `fit`: save the model and its measured facts.

A finished run folder holds `model.keras` and `result.json`; `zoo export`
turns the two into a published artifact.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from zoo import backend  # noqa: F401

import keras


from zoo.training import distribute
from zoo.io import atomic_write_text
from zoo.saving import load_model


def save_result(run_dir, model, *, metrics, seconds, epochs, seed, dataset,
                threshold=None, notes=None, figures=(), classes=None) -> dict:
    """Write `model.keras` and `result.json` into `run_dir`.

    Args:
        run_dir: the run folder (a worker other than the chief writes
            `distribute.worker_dir(run_dir)`).
        model: the trained `keras.Model`.
        metrics: {split: {metric: value}} measured by the recipe's `evaluate`.
        seconds: training wall-clock seconds.
        epochs: epochs trained.
        seed: the run's seed.
        dataset: {"name", "train", "eval"} as in the card schema.
        threshold: the calibrated match threshold (card schema), if any.
        notes: extra card fields, e.g. {"likelihood": "Bernoulli"}.
        figures: PNG file names in `run_dir` to ship with the card.
        classes: the names of a classifier's or identifier's outputs, in
            order (the card's "classes").

    Returns:
        The result dict that was written.
    """
    from zoo.export.onnx import check_serializable

    run_dir = distribute.worker_dir(run_dir)  # one writer per folder with several workers
    run_dir.mkdir(parents=True, exist_ok=True)  # a recipe that trains nothing has no run yet
    check_serializable(model)
    with tempfile.TemporaryDirectory(dir=run_dir) as tmp:
        path = Path(tmp) / "model.keras"
        model.save(path)
        path.replace(run_dir / "model.keras")
    result = {
        "metrics": metrics,
        "seconds": round(float(seconds), 1),
        "epochs": epochs,
        "seed": seed,
        "dataset": dataset,
        "threshold": threshold,
        "notes": notes or {},
        "figures": list(figures),
        "classes": list(classes) if classes is not None else None,
        "params": int(model.count_params()),
    }
    atomic_write_text(run_dir / "result.json", json.dumps(result, indent=2))
    return result


def load_run_model(run_dir):
    """The trained model of a run folder, loaded with `safe_mode=True`."""
    path = Path(run_dir) / "model.keras"
    if not path.exists():
        raise FileNotFoundError(
            f"No trained model in {run_dir}. Run `zoo train NAME --run-dir {run_dir}` first."
        )
    return load_model(path)


def load_result(run_dir) -> dict:
    path = Path(run_dir) / "result.json"
    if not path.exists():
        raise FileNotFoundError(
            f"No result.json in {run_dir}: the run did not finish. "
            "Run `zoo train NAME` again; it resumes where it stopped."
        )
    return json.loads(path.read_text())


def seeded_model(name, seed, /, **overrides):
    """`zoo.create(name, **overrides)` after seeding Python, NumPy and Keras, so
    the initial weights (not only the training order) follow the run's seed."""
    import zoo

    keras.utils.set_random_seed(seed)
    return zoo.create(name, **overrides)


VALIDATION_PER_CLASS = 500


def fashion_splits(seed=0, quick_sizes=None) -> dict:
    """{"train", "val", "test"}: (uint8 images, labels) of Fashion-MNIST.

    `VALIDATION_PER_CLASS` training images per class are held out as the
    validation split (`stratified_split`, `seed`); the test split is whole.

    Args:
        seed: seeds the validation split.
        quick_sizes: (train, val, test) counts to keep the first of, or None.
    """
    from zoo.training.datasets import load_fashion_mnist, stratified_split

    x, y = load_fashion_mnist("train")
    fit_idx, val_idx = stratified_split(y, VALIDATION_PER_CLASS, seed=seed)
    splits = {"train": (x[fit_idx], y[fit_idx]), "val": (x[val_idx], y[val_idx]),
              "test": load_fashion_mnist("test")}
    if quick_sizes:
        splits = {k: (a[:n], b[:n]) for (k, (a, b)), n in zip(splits.items(), quick_sizes)}
    return splits


def fashion_dataset_card(seed, quick=False) -> dict:
    """The card's `dataset` entry for a run on `fashion_splits`."""
    return {"name": "fashion_mnist",
            "train": f"train minus {VALIDATION_PER_CLASS} validation images per class "
                     f"(stratified_split, seed {seed})",
            "eval": "first 1000 test images" if quick else "test (10,000 images)"}
