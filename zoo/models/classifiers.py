"""Classification tasks: a backbone plus a softmax head."""

from zoo import backend  # noqa: F401

import keras
from keras import layers

from zoo.models.backbones import conv_backbone


def build_cnn_classifier(input_shape=(28, 28, 1), num_classes=10,
                         widths=(32, 64, 128), dropout=0.0, bn_momentum=0.99):
    """`conv_backbone` + (dropout) + Dense softmax, compiled for sparse labels.

    Args:
        input_shape: (H, W, C) of the float32 input in [0, 1].
        num_classes: number of output classes (>= 2).
        widths: backbone filters per block.
        dropout: dropout rate before the head, in [0, 1).
        bn_momentum: the backbone's BatchNorm momentum.
    """
    if int(num_classes) < 2:
        raise ValueError(f"num_classes must be >= 2. Received: num_classes={num_classes}")
    if not 0.0 <= float(dropout) < 1.0:
        raise ValueError(f"dropout must be in [0, 1). Received: dropout={dropout}")
    backbone = conv_backbone(input_shape, widths, bn_momentum=bn_momentum)
    image = keras.Input(shape=tuple(input_shape), name="image")
    x = backbone(image)
    if dropout:
        x = layers.Dropout(float(dropout), name="dropout")(x)
    probabilities = layers.Dense(int(num_classes), activation="softmax",
                                 name="probabilities")(x)
    model = keras.Model(image, probabilities, name="cnn_classifier")
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model
