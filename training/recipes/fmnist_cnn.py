"""fmnist_cnn: the Fashion-MNIST CNN classifier (source-domain backbone)."""

from zoo import backend  # noqa: F401

import numpy as np

import zoo
from training.datasets import load_fashion_mnist, stratified_split, to_float
from training.recipes.common import save_result, seeded_model
from training.runner import array_epochs, fit

EPOCHS = 3
BATCH_SIZE = 128
QUICK_BATCH_SIZE = 32
VALIDATION_PER_CLASS = 500


def train(run_dir, epochs=None, seed=0, quick=False):
    """Train on 55k Fashion-MNIST images (500 per class held out for validation).

    Args:
        run_dir: the run folder.
        epochs: override `EPOCHS`.
        seed: seeds the split, the shuffling and the weights.
        quick: 5,000 images, 2 epochs, narrow widths: a demo in seconds.
            Batches of 32 give ~300 steps, enough for BatchNorm's moving
            statistics (momentum 0.99) to settle.
    """
    x, y = load_fashion_mnist("train")
    fit_idx, val = stratified_split(y, VALIDATION_PER_CLASS, seed=seed)
    batch_size = QUICK_BATCH_SIZE if quick else BATCH_SIZE
    if quick:
        fit_idx, val = fit_idx[:5000], val[:500]
    epochs = epochs or (2 if quick else EPOCHS)
    overrides = dict(zoo.info("fmnist_cnn").tiny) if quick else {}
    model = seeded_model("fmnist_cnn", seed, **overrides)
    data = array_epochs(to_float(x[fit_idx]), y[fit_idx], batch_size, seed=seed)
    validation = array_epochs(to_float(x[val]), y[val], 512).make(0)
    run = fit(model, data, epochs=epochs, run_dir=run_dir, validation=validation, seed=seed,
              config={"model": "fmnist_cnn", "quick": quick, "batch_size": batch_size,
                      **overrides})
    metrics = evaluate(model, limit=1000 if quick else None)
    return save_result(
        run_dir, model, metrics=metrics, seconds=run.seconds, epochs=epochs, seed=seed,
        dataset={"name": "fashion_mnist",
                 "train": f"train minus {VALIDATION_PER_CLASS} validation images per "
                          f"class (stratified_split, seed {seed})",
                 "eval": "test" if not quick else "first 1000 test images"},
    )


def evaluate(model, limit=None):
    """Top-1 accuracy on the Fashion-MNIST test split.

    Args:
        model: a classifier from `image` to probabilities.
        limit: evaluate on the first `limit` test images only.
    """
    x, y = load_fashion_mnist("test")
    x, y = x[:limit], y[:limit]
    probabilities = model.predict(to_float(x), batch_size=512, verbose=0)
    accuracy = float(np.mean(np.argmax(probabilities, axis=1) == y))
    return {"test": {"accuracy": round(accuracy, 4), "n": int(len(y))}}
