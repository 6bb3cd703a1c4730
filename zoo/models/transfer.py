"""Transfer learning: adapt a pretrained backbone to a new task.

Approach 1 (frozen): the backbone is copied, marked `trainable=False` and
called with `training=False`, so BatchNorm stays in inference mode and not
one backbone variable moves; only the adaptation layers on top learn.
Approach 2 (fine-tune): train the head that way first, then `unfreeze` the
backbone and train everything with a lower learning rate, BatchNorm layers
excepted: they stay frozen, in inference mode with the source domain's
statistics (the Keras fine-tuning rule). Keras 3.15 lets an outer
`training=True` override the `training=False` recorded for a nested model
(`functional.operation_fn`), so `training=False` alone would not keep them
in inference mode once trainable; a frozen BatchNorm layer always is.
"""

from zoo import backend  # noqa: F401

import keras
from keras import layers

from zoo.models.graphs import all_layers

BACKBONE = "embed"  # the name of the backbone sub-model in a face model


def copy_backbone(source, input_shape=None, name=None):
    """A copy of `source` with its weights, optionally for a new input size.

    Args:
        source: a functional backbone `keras.Model`.
        input_shape: (H, W, C) of the copy; a fully convolutional backbone
            takes any size. None keeps the source's.
        name: the copy's name; None keeps the source's.
    """
    shape = tuple(input_shape or source.input_shape[1:])
    copy = keras.models.clone_model(source, input_tensors=keras.Input(shape=shape, name="image"))
    copy.set_weights(source.get_weights())
    if name:
        copy.name = name
    return copy


def build_transfer_classifier(backbone, num_classes, hidden=(64,), dropout=0.2,
                              learning_rate=1e-3, trainable=False, name="transfer_classifier"):
    """Backbone + adaptation layers (BatchNorm when frozen, ReLU Dense,
    Dropout) + softmax (approach 1 when frozen).

    Args:
        backbone: a functional `keras.Model` from `image` to features; it is
            used as is (copy it first with `copy_backbone` to keep the source).
        num_classes: classes of the new task (>= 2).
        hidden: widths of the ReLU adaptation layers.
        dropout: dropout after each adaptation layer, in [0, 1).
        learning_rate: Adam learning rate of the compiled model.
        trainable: False freezes the backbone (approach 1).
        name: the model name.
    """
    if int(num_classes) < 2:
        raise ValueError(f"num_classes must be >= 2. Received: num_classes={num_classes}")
    if not 0.0 <= float(dropout) < 1.0:
        raise ValueError(f"dropout must be in [0, 1). Received: dropout={dropout}")
    backbone.trainable = bool(trainable)
    image = keras.Input(shape=backbone.input_shape[1:], name="image")
    x = backbone(image, training=False)
    if not trainable:
        # Frozen source-domain features are far from standardised (e.g. ReLU
        # means of 0.4 +- 0.5): without this the head learns ten times slower.
        # A backbone trained with the head sets its own scale instead (with
        # it, drifting features would leave the moving statistics behind).
        x = layers.BatchNormalization(name="adapt_norm")(x)
    for i, units in enumerate(hidden):
        x = layers.Dense(int(units), activation="relu", name=f"adapt_dense{i}")(x)
        if dropout:
            x = layers.Dropout(float(dropout), name=f"adapt_dropout{i}")(x)
    probabilities = layers.Dense(int(num_classes), activation="softmax",
                                 name="probabilities")(x)
    model = keras.Model(image, probabilities, name=name)
    return _compile(model, learning_rate)


def unfreeze(model, learning_rate=1e-4, backbone=BACKBONE):
    """Approach 2: make the backbone trainable (BatchNorm layers excepted) and
    recompile with a lower rate.

    Args:
        model: a classifier from `build_transfer_classifier`.
        learning_rate: the fine-tuning Adam learning rate (lower than the
            head's, so the pretrained features are adjusted, not erased).
        backbone: the backbone sub-model's name.

    Returns:
        The same model, recompiled.
    """
    model.get_layer(backbone).trainable = True
    for layer in all_layers(model.get_layer(backbone)):
        if isinstance(layer, layers.BatchNormalization):
            layer.trainable = False
    return _compile(model, learning_rate)


def _compile(model, learning_rate):
    model.compile(optimizer=keras.optimizers.Adam(float(learning_rate)),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model
