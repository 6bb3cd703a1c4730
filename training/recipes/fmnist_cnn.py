"""fmnist_cnn: the Fashion-MNIST CNN classifier (source-domain backbone)."""

from zoo import backend  # noqa: F401

import numpy as np

import zoo
from zoo.training.datasets import load_fashion_mnist, to_float
from zoo.training.datasets.fashion_mnist import CLASS_NAMES
from zoo.training.recipes.common import (
    fashion_dataset_card,
    fashion_splits,
    save_result,
    seeded_model,
)
from zoo.training.runner import array_epochs, best_checkpoint, fit

EPOCHS = 3
BATCH_SIZE = 128
QUICK_BATCH_SIZE = 32
dataset_card = fashion_dataset_card  # the card's split, for a full run


def train(run_dir, epochs=None, seed=0, quick=False):
    """Train on `fashion_splits` (55k images; 500 per class held out for
    validation) and keep the epoch with the lowest validation loss: this
    GAP network's validation accuracy swings by several points between
    epochs, so the last epoch is not reproducible within half a point.

    Args:
        run_dir: the run folder.
        epochs: override `EPOCHS`.
        seed: seeds the split, the shuffling and the weights.
        quick: 5,000 images, 2 epochs, the tiny config: a demo in seconds.
            Batches of 32 give ~300 steps, enough for BatchNorm's moving
            statistics (the tiny config's momentum 0.9) to settle.
    """
    splits = fashion_splits(seed, (5000, 500, 1000) if quick else None)
    (x, y), (x_val, y_val) = splits["train"], splits["val"]
    batch_size = QUICK_BATCH_SIZE if quick else BATCH_SIZE
    epochs = epochs or (2 if quick else EPOCHS)
    overrides = dict(zoo.info("fmnist_cnn").tiny) if quick else {}
    model = seeded_model("fmnist_cnn", seed, **overrides)
    data = array_epochs(to_float(x), y, batch_size, seed=seed)
    validation = array_epochs(to_float(x_val), y_val, 512).make(0)
    run = fit(model, data, epochs=epochs, run_dir=run_dir, validation=validation, seed=seed,
              config={"model": "fmnist_cnn", "quick": quick, "batch_size": batch_size,
                      **overrides})
    model.load_weights(best_checkpoint(run))
    best = int(np.argmin(run.history["val_loss"])) + 1
    metrics = evaluate(model, limit=1000 if quick else None)
    return save_result(
        run_dir, model, metrics=metrics, seconds=run.seconds, epochs=epochs, seed=seed,
        dataset=fashion_dataset_card(seed, quick), classes=CLASS_NAMES,
        notes={"selected_epoch": f"{best} of {epochs}, by validation loss"},
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
