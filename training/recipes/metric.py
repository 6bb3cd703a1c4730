"""What the metric-learning recipes share: Fashion-MNIST splits, pair and
P x K epochs, training, and evaluation (verification and retrieval).

Splits: 500 images per class of the training set are held out as the
validation split (threshold calibration only); every metric is measured on
the test split.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

from zoo import backend  # noqa: F401

import numpy as np

import zoo
from zoo.training import samplers
from zoo.training.datasets import to_float
from zoo.training.recipes import common
from zoo.training.recipes.common import fashion_dataset_card, save_result, seeded_model
from zoo.training.runner import EpochData, fit
from zoo.evaluation.retrieval import plot_embedding_2d, retrieval_report
from zoo.evaluation.verification import plot_roc, verification_report
from zoo.models.graphs import graph_model

VAL_PAIRS, TEST_PAIRS = 5_000, 10_000
VAL_PAIR_SEED, TEST_PAIR_SEED = 1, 2


def fashion_splits(seed=0, quick=False) -> dict:
    """`common.fashion_splits`; `quick` keeps 2,000 / 1,000 / 1,000 images."""
    return common.fashion_splits(seed, (2000, 1000, 1000) if quick else None)


def pair_epochs(images, labels, pairs_per_epoch, batch_size, seed) -> EpochData:
    """Fresh balanced pairs every epoch, drawn from (seed, epoch)."""
    make = partial(_pairs, images, labels, pairs_per_epoch, seed, batch_size)
    return EpochData(make, -(-pairs_per_epoch // batch_size))


def pk_epochs(images, labels, p, k, steps, seed) -> EpochData:
    """P x K batches every epoch, drawn from (seed, epoch)."""
    make = partial(_pk, images, labels, p, k, steps, seed)
    return EpochData(make, steps)


def _pairs(images, labels, n, seed, batch_size, epoch):
    return samplers.pairs_dataset(images, labels, n, seed=seed, batch_size=batch_size, epoch=epoch)


def _pk(images, labels, p, k, steps, seed, epoch):
    return samplers.pk_dataset(images, labels, p, k, steps, seed=seed, epoch=epoch)


def pair_scores(model, images, labels, n_pairs, seed):
    """Scores of a pair model on seeded balanced pairs; labels 1 = same class."""
    a, b, same = samplers.balanced_pairs(labels, n_pairs, seed=seed)
    scores = model.predict({"image_a": to_float(images[a]), "image_b": to_float(images[b])},
                           batch_size=512, verbose=0)
    return np.asarray(scores).reshape(-1), same


def cosine_pair_scores(embed, images, labels, n_pairs, seed):
    """Cosine similarity of an embedding model's outputs on seeded balanced pairs."""
    a, b, same = samplers.balanced_pairs(labels, n_pairs, seed=seed)
    e = embed.predict(to_float(images), batch_size=512, verbose=0)
    e = e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12)
    return np.sum(e[a] * e[b], axis=1), same


def evaluate_verifier(model, direction, splits, figure_dir=None, quick=False,
                      scores=pair_scores) -> tuple:
    """Verification metrics on test pairs, threshold calibrated on val pairs.

    Args:
        model: a pair model (`image_a`, `image_b`) -> score, or an embedding
            model with `scores=cosine_pair_scores`.
        direction: "greater" (similarity, probability) or "less" (distance).
        splits: from `fashion_splits`.
        figure_dir: where to save roc.png (and embedding.png when the model
            has an `embed` tower); None saves nothing.
        quick: fewer pairs.
        scores: `scores(model, images, labels, n_pairs, seed) -> (s, same)`.

    Returns:
        (metrics {"test": {...}}, threshold card entry, figure names).
    """
    n_val, n_test = (500, 1000) if quick else (VAL_PAIRS, TEST_PAIRS)
    val_s, val_y = scores(model, *splits["val"], n_val, VAL_PAIR_SEED)
    test_s, test_y = scores(model, *splits["test"], n_test, TEST_PAIR_SEED)
    report = verification_report(val_s, val_y, test_s, test_y, direction=direction)
    metrics = {k: _round(report[k]) for k in
               ("test_accuracy", "roc_auc", "eer", "tar_at_far_1e-2", "tar_at_far_1e-3")}
    metrics["pairs"] = n_test
    threshold = {"value": float(report["threshold"]), "direction": direction,
                 "calibrated_on": f"validation ({n_val} balanced pairs)",
                 "rule": "max accuracy"}
    figures = []
    if figure_dir is not None:
        plot_roc(test_s, test_y, Path(figure_dir) / "roc.png", direction=direction,
                 title=f"{model.name}: test ROC ({n_test} pairs)")
        figures.append("roc.png")
    result = {"test": metrics}
    if scores is pair_scores and any(layer.name == "embed" for layer in model.layers):
        retrieval, more = evaluate_embedder(graph_model(model, "embed"), splits, figure_dir)
        result["test"].update({f"retrieval_{k}": v for k, v in retrieval["test"].items()})
        figures += more
    return result, threshold, figures


def evaluate_embedder(embed, splits, figure_dir=None, distance="cosine") -> tuple:
    """Retrieval on the test split: every test image queries all the others.

    Returns:
        (metrics {"test": {"recall@1", "recall@5", "recall@10", "map@r"}},
         figure names).
    """
    x, y = splits["test"]
    embeddings = embed.predict(to_float(x), batch_size=512, verbose=0)
    report = retrieval_report(embeddings, y, ks=(1, 5, 10), distance=distance)
    metrics = {k: _round(report[k]) for k in ("recall@1", "recall@5", "recall@10", "map@r")}
    figures = []
    if figure_dir is not None:
        plot_embedding_2d(embeddings[:2000], y[:2000], Path(figure_dir) / "embedding.png",
                          title="Test embeddings (PCA to 2-D, 2,000 images)")
        figures.append("embedding.png")
    return {"test": metrics}, figures


def train_pair_model(name, run_dir, *, direction, epochs, pairs_per_epoch, seed, quick,
                     batch_size=128, prepare=None) -> dict:
    """Train and evaluate the pair model `name` on Fashion-MNIST pairs.

    Args:
        name: the registry entry.
        run_dir: the run folder.
        direction: how to read its score ("greater" or "less").
        epochs: epochs to train.
        pairs_per_epoch: balanced pairs drawn fresh each epoch.
        seed: seeds split, pairs, weights.
        quick: tiny configuration and data.
        batch_size: pairs per batch.
        prepare: optional `prepare(model)` run before training (e.g. to load
            pretrained weights into a frozen backbone).
    """
    spec = zoo.info(name)
    splits = fashion_splits(seed, quick)
    model = seeded_model(name, seed, **(spec.tiny if quick else {}))
    if prepare is not None:
        prepare(model)
    epochs = 1 if quick else epochs
    pairs = 1000 if quick else pairs_per_epoch
    val = samplers.pairs_dataset(*splits["val"], 1000 if quick else 2000, seed=VAL_PAIR_SEED,
                                 batch_size=512)
    run = fit(model, pair_epochs(*splits["train"], pairs, batch_size, seed), epochs=epochs,
              run_dir=run_dir, validation=val, seed=seed,
              config={"model": name, "quick": quick, "pairs_per_epoch": pairs,
                      "batch_size": batch_size})
    metrics, threshold, figures = evaluate_verifier(model, direction, splits, run_dir, quick)
    return save_result(run_dir, model, metrics=metrics, seconds=run.seconds, epochs=epochs,
                       seed=seed, dataset=fashion_dataset_card(seed, quick), threshold=threshold,
                       figures=figures)


def train_embedder(name, run_dir, *, epochs, steps, p, k, seed, quick) -> dict:
    """Train and evaluate the embedding entry `name` on P x K batches."""
    spec = zoo.info(name)
    splits = fashion_splits(seed, quick)
    model = seeded_model(name, seed, **(spec.tiny if quick else {}))
    epochs, steps = (1, 10) if quick else (epochs, steps)
    run = fit(model, pk_epochs(*splits["train"], p, k, steps, seed), epochs=epochs,
              run_dir=run_dir, seed=seed,
              config={"model": name, "quick": quick, "p": p, "k": k, "steps": steps})
    metrics, threshold, figures = evaluate_embedding_model(model, splits, run_dir, quick)
    return save_result(run_dir, model, metrics=metrics, seconds=run.seconds, epochs=epochs,
                       seed=seed, dataset=fashion_dataset_card(seed, quick), figures=figures,
                       threshold=threshold)


def evaluate_embedding_model(model, splits, figure_dir=None, quick=False) -> tuple:
    """Retrieval metrics, plus verification by the cosine similarity of two
    embeddings (so the card's threshold serves `runtime.verify`)."""
    embed = graph_model(model, "embed")
    metrics, figures = evaluate_embedder(embed, splits, figure_dir)
    verification, threshold, roc = evaluate_verifier(embed, "greater", splits, figure_dir,
                                                     quick, scores=cosine_pair_scores)
    metrics["test"].update({f"verify_{k}": v for k, v in verification["test"].items()})
    return metrics, threshold, figures + roc


def _round(value):
    return round(float(value), 4)


class PairRecipe:
    """The `train` / `evaluate` pair of a Fashion-MNIST pair-model recipe.

    Args:
        name: the registry entry.
        direction: how to read its score ("greater" or "less").
        epochs: default epochs.
        pairs_per_epoch: balanced pairs drawn fresh each epoch.
        prepare: optional `prepare(model)` before training.
    """

    def __init__(self, name, direction, epochs=4, pairs_per_epoch=20_000, prepare=None):
        self.name, self.direction, self.epochs = name, direction, epochs
        self.pairs_per_epoch, self.prepare = pairs_per_epoch, prepare

    def train(self, run_dir, epochs=None, seed=0, quick=False):
        """Train on fresh balanced pairs each epoch; see `train_pair_model`."""
        return train_pair_model(self.name, run_dir, direction=self.direction,
                                epochs=epochs or self.epochs,
                                pairs_per_epoch=self.pairs_per_epoch, seed=seed, quick=quick,
                                prepare=None if quick else self.prepare)

    dataset_card = staticmethod(fashion_dataset_card)  # the card's split

    def evaluate(self, model):
        """Verification (and tower retrieval) metrics on the test split."""
        return evaluate_verifier(model, self.direction, fashion_splits())[0]


class EmbedderRecipe:
    """The `train` / `evaluate` pair of a P x K embedding recipe.

    Args:
        name: the registry entry.
        epochs, steps, p, k: default epochs, steps per epoch, classes per
            batch and images per class.
    """

    def __init__(self, name, epochs=4, steps=350, p=10, k=16):
        self.name, self.epochs, self.steps, self.p, self.k = name, epochs, steps, p, k

    def train(self, run_dir, epochs=None, seed=0, quick=False):
        """Train on P x K batches; see `train_embedder`."""
        return train_embedder(self.name, run_dir, epochs=epochs or self.epochs,
                              steps=self.steps, p=self.p, k=self.k, seed=seed, quick=quick)

    dataset_card = staticmethod(fashion_dataset_card)  # the card's split

    def evaluate(self, model):
        """Retrieval and cosine-verification metrics on the test split."""
        return evaluate_embedding_model(model, fashion_splits())[0]
