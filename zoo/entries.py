"""The zoo's entries. Each family issue adds its specs here.

Published sha256 values live in `weights.json` beside this file; `zoo export
--publish` rewrites it, so no hash is ever typed by hand.
"""

import json
from pathlib import Path

from zoo.registry import ModelSpec, register

_WEIGHTS = json.loads((Path(__file__).with_name("weights.json")).read_text())


def _entry(**fields) -> ModelSpec:
    return register(ModelSpec(weights=_WEIGHTS.get(fields["name"], {}), **fields))


_entry(
    name="fmnist_cnn",
    builder="zoo.models.classifiers:build_cnn_classifier",
    task="classification",
    covers="Transfer learning: the source-domain backbone (a CNN trained on "
    "Fashion-MNIST) that the transfer entries adapt",
    summary="Small fully convolutional CNN + softmax, trained on Fashion-MNIST.",
    input_shape=(28, 28, 1),
    graphs=("classify",),
    dataset="fashion_mnist",
    defaults={"input_shape": (28, 28, 1), "num_classes": 10,
              "widths": (32, 64, 128), "dropout": 0.0},
    tiny={"widths": (8, 16, 32)},
    recipe="training.recipes.fmnist_cnn",
)
