"""omniglot_siamese: Siamese towers trained on the Omniglot background set,
evaluated on Lake's 20 official 20-way one-shot runs (evaluation set).

The shared tower is trained with the in-batch ranking loss (supervised
contrastive) on P x K batches of background characters: every pair in the
batch is a Siamese comparison, which learns faster than one pair at a time.
The published model is the pair model (tied towers + cosine head).
"""

from zoo import backend  # noqa: F401

import keras

import zoo
from zoo.training import samplers
from zoo.training.datasets import load_omniglot, load_one_shot_runs, resize, to_float
from zoo.training.recipes.common import save_result, seeded_model
from zoo.training.recipes.metric import cosine_pair_scores, pk_epochs
from zoo.training.runner import fit
from zoo.evaluation.oneshot import n_way_accuracy
from zoo.evaluation.verification import plot_roc, verification_report
from zoo.losses import RankingLoss
from zoo.models.graphs import graph_model

SIZE = (35, 35)
VALIDATION_CHARACTERS = 0.1
P, K, STEPS, EPOCHS = 32, 4, 300, 6


def _images(subset):
    x, y = load_omniglot(subset)
    return resize(x, SIZE), y


def train(run_dir, epochs=None, seed=0, quick=False):
    """Train the tower on background characters minus a held-out 10% (for the
    threshold), then measure one-shot and verification accuracy.

    Args:
        run_dir: the run folder.
        epochs: override `EPOCHS`.
        seed: seeds the character split, the batches and the weights.
        quick: a tiny model and 1 short epoch.
    """
    spec = zoo.info("omniglot_siamese")
    x, y = _images("background")
    fit_idx, val_idx = samplers.identity_disjoint_split(
        y, (1 - VALIDATION_CHARACTERS, VALIDATION_CHARACTERS), seed=seed)
    model = seeded_model("omniglot_siamese", seed, **(spec.tiny if quick else {}))
    tower = graph_model(model, "embed")
    image = keras.Input(spec.input_shape, name="image")
    trainer = keras.Model(image, tower(image), name="omniglot_tower_trainer")
    trainer.compile(optimizer=keras.optimizers.Adam(1e-3), loss=RankingLoss(temperature=0.1))
    epochs, steps = (1, 5) if quick else (epochs or EPOCHS, STEPS)
    run = fit(trainer, pk_epochs(x[fit_idx], y[fit_idx], P, K, steps, seed), epochs=epochs,
              run_dir=run_dir, seed=seed,
              config={"model": "omniglot_siamese", "quick": quick, "p": P, "k": K,
                      "steps": steps, "loss": "RankingLoss(temperature=0.1)"})
    metrics, threshold = evaluate_with_threshold(model, (x[val_idx], y[val_idx]), run_dir)
    return save_result(
        run_dir, model, metrics=metrics, seconds=run.seconds, epochs=epochs, seed=seed,
        dataset=dataset_card(seed),
        threshold=threshold, figures=["roc.png"])


def dataset_card(seed=0, quick=False) -> dict:
    """The card's `dataset`."""
    return {"name": "omniglot",
            "train": f"background set minus {VALIDATION_CHARACTERS:.0%} of its "
                     f"characters (identity_disjoint_split, seed {seed})",
            "eval": "Lake's 20 official 20-way one-shot runs (evaluation set); "
                    "verification pairs from the evaluation set"}


def evaluate(model):
    """One-shot accuracy on the official runs and verification on evaluation pairs."""
    x, y = _images("background")
    _, val_idx = samplers.identity_disjoint_split(
        y, (1 - VALIDATION_CHARACTERS, VALIDATION_CHARACTERS), seed=0)
    return evaluate_with_threshold(model, (x[val_idx], y[val_idx]))[0]


def evaluate_with_threshold(model, validation, figure_dir=None):
    """(metrics, threshold): one-shot accuracy, and verification with the
    threshold calibrated on held-out background characters."""
    tower = graph_model(model, "embed")
    runs = load_one_shot_runs()
    support = _embed(tower, runs["train_images"])
    queries = _embed(tower, runs["test_images"])
    one_shot = n_way_accuracy(support, queries, runs["test_answer"], distance="cosine")

    x_eval, y_eval = _images("evaluation")
    val_s, val_y = cosine_pair_scores(tower, *validation, 5000, seed=1)
    test_s, test_y = cosine_pair_scores(tower, x_eval, y_eval, 10000, seed=2)
    report = verification_report(val_s, val_y, test_s, test_y, direction="greater")
    if figure_dir is not None:
        plot_roc(test_s, test_y, f"{figure_dir}/roc.png",
                 title="omniglot_siamese: evaluation-set pairs")
    metrics = {"test": {
        "one_shot_20way_accuracy": round(one_shot.accuracy, 4),
        "one_shot_runs": 20,
        **{k: round(float(report[k]), 4) for k in
           ("test_accuracy", "roc_auc", "eer", "tar_at_far_1e-2", "tar_at_far_1e-3")},
    }}
    threshold = {"value": round(float(report["threshold"]), 4), "direction": "greater",
                 "calibrated_on": "validation: 5000 pairs of held-out background characters",
                 "rule": "max accuracy"}
    return metrics, threshold


def _embed(tower, images):
    runs, n = images.shape[:2]
    flat = resize(images.reshape(runs * n, *images.shape[2:]), SIZE)
    return tower.predict(to_float(flat), batch_size=512, verbose=0).reshape(runs, n, -1)

