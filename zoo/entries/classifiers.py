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
    # BatchNorm momentum 0.9: with 0.99 the moving statistics lagged the
    # weights, and validation accuracy swung between 0.49 and 0.81 per epoch.
    defaults={"input_shape": (28, 28, 1), "num_classes": 10,
              "widths": (32, 64, 128), "dropout": 0.0, "bn_momentum": 0.9},
    tiny={"widths": (8, 16, 32)},  # also `zoo train --quick`, the demo
    recipe="zoo.training.recipes.fmnist_cnn",
)
