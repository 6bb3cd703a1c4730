"""Classification entries."""

from zoo.entries._common import entry

entry(
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
              "widths": (32, 64, 128), "dropout": 0.0, "bn_momentum": 0.9},
    # The tiny config also drives `zoo train --quick` (the demo): momentum 0.9
    # lets BatchNorm's statistics catch up within its ~300 steps.
    tiny={"widths": (8, 16, 32), "bn_momentum": 0.9},
    recipe="training.recipes.fmnist_cnn",
)
