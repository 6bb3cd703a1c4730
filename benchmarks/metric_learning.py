"""Metric learning and verification: re-measure every published model and
compare with the targets and anchors of the issue.

    python -m benchmarks.metric_learning [--from-cards]
"""

import argparse

from sklearn.decomposition import PCA

import zoo
from benchmarks.common import card, markdown, remeasure, verdict
from zoo.training.recipes.metric import fashion_splits
from zoo.evaluation.retrieval import retrieval_report

VERIFIERS = ("siamese_contrastive", "siamese_cosine", "verify_mlp", "verify_tied", "two_channel")
EMBEDDERS = ("triplet_embed", "margin_embed", "ranking_embed")


def pixel_baselines(pca_dim=64) -> dict:
    """Recall@1 on the Fashion-MNIST test split with raw pixels (Euclidean
    1-NN) and with PCA-`pca_dim` codes fit on the training split (cosine)."""
    splits = fashion_splits()
    x_train = splits["train"][0].reshape(len(splits["train"][0]), -1) / 255.0
    x_test, y_test = splits["test"]
    x_test = x_test.reshape(len(x_test), -1) / 255.0
    raw = retrieval_report(x_test, y_test, ks=(1,), distance="euclidean")["recall@1"]
    codes = PCA(pca_dim, random_state=0).fit(x_train).transform(x_test)
    pca = retrieval_report(codes, y_test, ks=(1,), distance="cosine")["recall@1"]
    return {"raw": raw, "pca": pca, "pca_dim": pca_dim}


def run(from_cards=False) -> str:
    """Measure and return the Markdown report."""
    measured = {}
    for name in (*VERIFIERS, *EMBEDDERS, "omniglot_siamese"):
        if not zoo.info(name).pretrained:
            continue
        metrics = card(name)["metrics"] if from_cards else remeasure(name)
        measured[name] = metrics["test"]
    rows = []
    for name, m in measured.items():
        seconds = round(card(name).get("training", {}).get("seconds", 0))
        rows.append((name, m.get("test_accuracy", m.get("verify_test_accuracy", "-")),
                     m.get("roc_auc", m.get("verify_roc_auc", "-")),
                     m.get("eer", m.get("verify_eer", "-")),
                     m.get("recall@1", m.get("retrieval_recall@1", "-")),
                     m.get("map@r", m.get("retrieval_map@r", "-")),
                     m.get("one_shot_20way_accuracy", "-"), seconds))
    models = markdown(rows, ("model", "pair accuracy", "ROC AUC", "EER", "Recall@1", "MAP@R",
                             "20-way one-shot", "train s"))

    accuracies = [(m.get("test_accuracy", m.get("verify_test_accuracy")), n)
                  for n, m in measured.items() if n != "omniglot_siamese"]
    best_verifier = max(((a, n) for a, n in accuracies if a is not None), default=(None, "-"))
    recalls = [(m.get("recall@1", m.get("retrieval_recall@1")), n) for n, m in measured.items()
               if n != "omniglot_siamese"]
    best_recall = max(((r, n) for r, n in recalls if r is not None), default=(None, "-"))
    one_shot = measured.get("omniglot_siamese", {}).get("one_shot_20way_accuracy")
    base = pixel_baselines()
    targets = markdown([
        ("Fashion-MNIST balanced-pair verification accuracy, best model",
         best_verifier[0], best_verifier[1], ">= 0.95", "keras.io contrastive, MNIST: 0.958",
         verdict(best_verifier[0], 0.95)),
        ("Fashion-MNIST Recall@1, best embedding", best_recall[0], best_recall[1], ">= 0.92",
         f"raw pixels 1-NN: {base['raw']:.4f}; PCA-{base['pca_dim']}: {base['pca']:.4f} "
         "(measured here)", verdict(best_recall[0], 0.92)),
        ("Omniglot 20-way one-shot, Lake's official runs", one_shot, "omniglot_siamese",
         ">= 0.93", "Koch et al. 2015: 0.920", verdict(one_shot, 0.93)),
    ], ("figure", "measured", "model", "target", "anchor", "verdict"))
    cross = card("cross_domain") and (card("cross_domain")["metrics"]["test"] if from_cards
                                       else remeasure("cross_domain")["test"])
    cross_table = markdown([(
        "cross_domain", cross["instance_recall@1"], cross["instance_recall@5"],
        cross["instance_recall@10"], cross["class_recall@1"], cross["gallery"],
        round(card("cross_domain")["training"]["seconds"]))],
        ("model", "instance R@1", "instance R@5", "instance R@10", "class R@1", "gallery",
         "train s")) if cross else "cross_domain is not published."
    source = "published cards" if from_cards else "re-measured from the published weights"
    return (f"### Metric learning and verification ({source})\n\n{targets}\n\n"
            f"Every model, Fashion-MNIST test split (Omniglot: evaluation set):\n\n{models}\n\n"
            f"Sketch -> photo retrieval (query: edge-map sketch of a test image; gallery: "
            f"the 10,000 test photos):\n\n{cross_table}\n")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--from-cards", action="store_true",
                        help="read the metrics from the cards instead of re-measuring")
    print(run(parser.parse_args().from_cards))
