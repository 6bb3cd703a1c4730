"""Faces and transfer learning on ORL: the closed-set 5/5 table, the
cross-domain transfer table, and the unseen-people figures of the face
entries against the issue's targets.

    python -m benchmarks.faces [--from-cards]

The two ORL 5/5 tables train small models (10-30 minutes on 2 cores; cached
in runs/bench_faces/results.json, `--fresh` re-trains); the unseen-people
figures come from the published entries.
"""

import argparse
import json
import tempfile
from pathlib import Path

from zoo import backend  # noqa: F401

import keras

import zoo
from benchmarks.common import card, markdown, remeasure, verdict
from zoo.training.datasets import orl_five_five_split
from zoo.training.recipes import faces
from zoo.training.recipes.face_embed import EPOCHS, K, STEPS
from zoo.evaluation import closed_set_top1
from zoo.io import atomic_write_text
from zoo.models.graphs import graph_model
from zoo.models.siamese import build_embedder, embedding_tower
from zoo.models.transfer import build_transfer_classifier, copy_backbone

SEED = 0
RESULTS = Path(__file__).resolve().parents[1] / "runs" / "bench_faces" / "results.json"
HEAD_EPOCHS, FINE_TUNE_EPOCHS, SCRATCH_EPOCHS = 60, 40, 100  # 8 steps of 25 faces each
TOWER = {k: v for k, v in zoo.info("face_embed").defaults.items()
         if k in ("input_shape", "widths", "embedding_dim")}


def five_five(seed=SEED) -> dict:
    """{"train", "test"}: the ORL 5/5 protocol over all 40 people at 56x46."""
    x, y = faces.faces()
    train, test = orl_five_five_split(seed)
    return {"train": (x[train], y[train]), "test": (x[test], y[test])}


def knn_top1(embed, split, distance="cosine") -> float:
    """Closed-set 1-NN top-1: the 200 training faces are the gallery."""
    (x, y), (xt, yt) = split["train"], split["test"]
    return closed_set_top1(embed(x), y, embed(xt), yt, distance)


def adapted_top1(backbone, split, folder, fine_tune) -> float:
    """Top-1 of `backbone` + a new 40-way head (approach 1, or 2 with `fine_tune`)."""
    keras.utils.set_random_seed(SEED)
    model = build_transfer_classifier(backbone, 40, hidden=(64,), dropout=0.2)
    faces.train_transfer(model, *split["train"], folder, head_epochs=HEAD_EPOCHS,
                         fine_tune_epochs=FINE_TUNE_EPOCHS if fine_tune else 0, seed=SEED)
    return faces.top1(model, *split["test"])


def scratch_top1(tower, split, folder) -> float:
    """Top-1 of `tower` + head with every weight trained from random init."""
    keras.utils.set_random_seed(SEED)
    model = build_transfer_classifier(tower, 40, hidden=(64,), dropout=0.2, trainable=True)
    faces.train_classifier(model, *split["train"], folder, epochs=SCRATCH_EPOCHS, seed=SEED)
    return faces.top1(model, *split["test"])


def closed_set_rows(split, folder) -> list:
    """Eigenfaces, a CNN from scratch, and a metric-learned ORL embedding used
    by KNN, a frozen head and fine-tuning: all trained on the 5/5 train half."""
    eigen = knn_top1(faces.eigenfaces(split["train"][0]), split, "euclidean")
    keras.utils.set_random_seed(SEED)
    scratch = scratch_top1(embedding_tower(name="embed", **TOWER), split, folder / "scratch")
    keras.utils.set_random_seed(SEED)
    embedder = build_embedder(loss="ranking", **TOWER)
    faces.train_metric(embedder, *split["train"], folder / "metric", epochs=EPOCHS, steps=STEPS,
                       p=40, k=K, seed=SEED, config={"benchmark": "closed set"})
    tower = graph_model(embedder, "embed")
    return [
        ("eigenfaces: PCA-50 + 1-NN (scikit-learn)", eigen),
        ("CNN from scratch, softmax", scratch),
        ("metric-learned embedding + KNN (1-NN, cosine)",
         knn_top1(faces.keras_embedder(tower), split)),
        ("metric-learned embedding, frozen + new head (approach 1)",
         adapted_top1(copy_backbone(tower), split, folder / "head", fine_tune=False)),
        ("metric-learned embedding, fine-tuned (approach 2)",
         adapted_top1(copy_backbone(tower), split, folder / "tune", fine_tune=True)),
    ]


def cross_domain_rows(split, folder) -> list:
    """fmnist_cnn's backbone (Fashion-MNIST, 28x28 clothes) adapted to 56x46
    faces by approach 1 and 2, against the same architecture from scratch."""
    source = zoo.load("fmnist_cnn").get_layer("backbone")
    shape = TOWER["input_shape"]
    frozen = copy_backbone(source, shape, name="embed")
    rows = [("KNN over frozen fmnist_cnn features",
             knn_top1(faces.keras_embedder(frozen), split))]
    rows.append(("approach 1: frozen fmnist_cnn backbone + new head",
                 adapted_top1(copy_backbone(source, shape, name="embed"), split,
                              folder / "fm_head", fine_tune=False)))
    rows.append(("approach 2: fmnist_cnn backbone fine-tuned",
                 adapted_top1(copy_backbone(source, shape, name="embed"), split,
                              folder / "fm_tune", fine_tune=True)))
    keras.utils.set_random_seed(SEED)
    scratch = keras.models.clone_model(frozen)  # same architecture, fresh weights
    scratch.name = "embed"
    rows.append(("same architecture from scratch", scratch_top1(scratch, split,
                                                                folder / "fm_scratch")))
    return rows


def unseen_rows(from_cards) -> tuple:
    """(face_embed metrics, eigenfaces metrics, {entry: top-1}) on s31-s40."""
    if not zoo.info("face_embed").pretrained:
        return None, None, {}
    metrics = card("face_embed")["metrics"] if from_cards else remeasure("face_embed")
    ids = {}
    for name in ("face_id_knn", "face_id_head", "face_id_finetune"):
        if zoo.info(name).pretrained:
            m = card(name)["metrics"] if from_cards else remeasure(name)
            ids[name] = m["test"]["top1"]
    return metrics["unseen_s31_s40"], metrics["eigenfaces_unseen_s31_s40"], ids


def trained_rows(fresh=False) -> tuple:
    """(closed-set rows, cross-domain rows), cached in `RESULTS` so that a
    later failure does not cost the training again; `fresh` re-trains."""
    cached = json.loads(RESULTS.read_text()) if RESULTS.exists() and not fresh else {}
    split = five_five()
    with tempfile.TemporaryDirectory() as tmp:
        for part, rows in (("closed_set", closed_set_rows), ("cross_domain", cross_domain_rows)):
            if part not in cached:
                cached[part] = rows(split, Path(tmp))
                RESULTS.parent.mkdir(parents=True, exist_ok=True)
                atomic_write_text(RESULTS, json.dumps(cached, indent=2))
    return [tuple(r) for r in cached["closed_set"]], [tuple(r) for r in cached["cross_domain"]]


def run(from_cards=False, fresh=False) -> str:
    """Train (or read the cached) ORL 5/5 tables, read the unseen-people
    figures, and return the Markdown report."""
    closed, cross = trained_rows(fresh)
    header = ("method", "top-1")
    ours, eigen, ids = unseen_rows(from_cards)
    best_closed = max(v for _, v in closed[1:])
    lines = [
        f"### Faces (ORL; 5/5 split seed {SEED}, 56x46 faces)\n",
        "Closed set, ORL 5/5 protocol (all 40 people, 200 train / 200 test faces):\n",
        markdown(closed, header),
        "\nCross-domain transfer to ORL 5/5 (source: fmnist_cnn, trained on Fashion-MNIST):\n",
        markdown(cross, header),
    ]
    if ours:
        keys = ("top1_enroll_1", "top1_enroll_3", "top1_enroll_5", "open_set_dir_at_far_1e-2",
                "verify_eer", "verify_roc_auc", "verify_tar_at_far_1e-2")
        lines += ["\nUnseen people s31-s40 (face_embed learned s1-s25; means over "
                  f"{faces.REPEATS} seeded enrollment draws):\n",
                  markdown([("face_embed (CNN)", *(ours[k] for k in keys)),
                            ("eigenfaces (PCA-50 on s1-s30)", *(eigen[k] for k in keys))],
                           ("model", "top-1, 1 image", "top-1, 3 images", "top-1, 5 images",
                            "DIR @ FAR 1e-2", "EER", "ROC AUC", "TAR @ FAR 1e-2")),
                  "\nIdentification entries, unseen people (5 enrollment / training faces "
                  "each, 50 test faces):\n",
                  markdown(list(ids.items()), ("entry", "top-1"))]
    targets = [("ORL 5/5 closed-set top-1, best CNN method", best_closed, ">= 0.98",
                "SOM+CNN 0.962; eigenfaces " + f"{closed[0][1]:.4f} here",
                verdict(best_closed, 0.98))]
    if ours:
        targets += [
            ("Unseen people, 1 enrollment image, top-1", ours["top1_enroll_1"], ">= 0.90",
             f"eigenfaces {eigen['top1_enroll_1']:.4f}", verdict(ours["top1_enroll_1"], 0.90)),
            ("Unseen people, 5 enrollment images, top-1", ours["top1_enroll_5"], ">= 0.97",
             f"eigenfaces {eigen['top1_enroll_5']:.4f}", verdict(ours["top1_enroll_5"], 0.97)),
            ("Unseen-people verification EER", ours["verify_eer"], "<= 0.05",
             f"eigenfaces {eigen['verify_eer']:.4f}",
             verdict(ours["verify_eer"], 0.05, higher=False)),
        ]
    lines += ["\nTargets:\n", markdown(targets, ("figure", "measured", "target", "anchor",
                                                 "verdict"))]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--from-cards", action="store_true",
                        help="read the unseen-people figures from the cards")
    parser.add_argument("--fresh", action="store_true",
                        help="re-train the ORL 5/5 tables instead of reading runs/bench_faces")
    args = parser.parse_args()
    print(run(args.from_cards, args.fresh))
