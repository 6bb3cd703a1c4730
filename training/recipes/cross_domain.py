"""cross_domain: retrieve a Fashion-MNIST photo from its edge-map sketch.

The query domain is `edge_sketch(photo)`; the gallery is the photos. A hit
at instance level means the sketch retrieved its own photo among all test
photos; at class level, any photo of the same class.
"""

import numpy as np

import zoo
from zoo.training.datasets import edge_sketch, to_float
from zoo.training.recipes.common import fashion_dataset_card, save_result, seeded_model
from zoo.training.recipes.metric import fashion_splits
from zoo.training.runner import array_epochs, fit
from zoo.evaluation.retrieval import gallery_retrieval_report
from zoo.models.graphs import graph_model

EPOCHS, BATCH_SIZE = 3, 128
dataset_card = fashion_dataset_card  # the card's split, for a full run


def _pairs(images):
    return {"image_a": to_float(edge_sketch(images)), "image_b": to_float(images)}


def train(run_dir, epochs=None, seed=0, quick=False):
    """Train both towers with the cross-domain ranking loss on (sketch, photo).

    Args:
        run_dir: the run folder.
        epochs: override `EPOCHS`.
        seed: seeds the split, the shuffling and the weights.
        quick: tiny model and data, 1 epoch.
    """
    spec = zoo.info("cross_domain")
    splits = fashion_splits(seed, quick)
    model = seeded_model("cross_domain", seed, **(spec.tiny if quick else {}))
    x, _ = splits["train"]
    epochs = 1 if quick else (epochs or EPOCHS)
    data = array_epochs(_pairs(x), np.zeros(len(x), "float32"), BATCH_SIZE, seed=seed,
                        drop_remainder=True)
    run = fit(model, data, epochs=epochs, run_dir=run_dir, seed=seed,
              config={"model": "cross_domain", "quick": quick, "batch_size": BATCH_SIZE})
    metrics = evaluate(model, splits)
    return save_result(run_dir, model, metrics=metrics, seconds=run.seconds, epochs=epochs,
                       seed=seed, dataset=fashion_dataset_card(seed, quick),
                       notes={"query_domain": "edge_sketch(photo): Sobel magnitude, 0..255",
                              "gallery_domain": "photo"})


def evaluate(model, splits=None):
    """Sketch -> photo retrieval on the test split, instance and class level."""
    x, y = (splits or fashion_splits())["test"]
    pairs = _pairs(x)
    queries = graph_model(model, "embed_query").predict(pairs["image_a"], batch_size=512, verbose=0)
    gallery = graph_model(model, "embed").predict(pairs["image_b"], batch_size=512, verbose=0)
    ids = np.arange(len(x))
    instance = gallery_retrieval_report(queries, ids, gallery, ids, ks=(1, 5, 10))
    by_class = gallery_retrieval_report(queries, y, gallery, y, ks=(1,))
    return {"test": {"instance_recall@1": round(instance["recall@1"], 4),
                     "instance_recall@5": round(instance["recall@5"], 4),
                     "instance_recall@10": round(instance["recall@10"], 4),
                     "class_recall@1": round(by_class["recall@1"], 4),
                     "gallery": int(len(x))}}
