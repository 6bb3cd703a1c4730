"""dlib's face-recognition ResNet as a functional Keras 3 model (150x150 RGB -> 128-d).

The layer list comes from `zoo.faces.resnet_dat.architecture()`, the same list that
reads the `.dat` file, and dlib's tags and skips become references to earlier
tensors. dlib's input normalization, `(pixel - mean) / 256` on the 0..255 scale, is
inside the graph as a `Rescaling` layer acting on pixels scaled to [0, 1].
"""

from zoo import backend  # noqa: F401

import keras

from zoo.faces.resnet_dat import FaceResNetWeights, architecture, read_face_resnet
from zoo.layers.dlib import ChannelAffine, ZeroExtendAdd
from zoo.losses.triplet import TripletLoss

CHIP_SIZE = 150
FINE_TUNE_LEARNING_RATE = 1e-5  # the rate that kept the unseen-people EER (benchmarks.face_transfer)
DLIB_MEAN = (122.782, 117.001, 104.298)  # overwritten by the file's own values


def build_face_resnet(weights: FaceResNetWeights | str | None = None,
                      name: str = "face_resnet") -> keras.Model:
    """The face ResNet; with dlib's weights unless `weights="none"`.

    Args:
        weights: a `FaceResNetWeights`, "dlib" / None to read the installed package's
            file, or "none" for fresh weights (tests, from-scratch training).
        name: the model's name.
    """
    if weights is None or weights == "dlib":
        weights = read_face_resnet()
    mean = weights.input_mean if isinstance(weights, FaceResNetWeights) else DLIB_MEAN
    layers = weights.layers if isinstance(weights, FaceResNetWeights) else architecture()

    image = keras.Input((CHIP_SIZE, CHIP_SIZE, 3), name="image")
    # (255 x - mean) / 256 for pixels x in [0, 1]
    x = keras.layers.Rescaling(255.0 / 256.0, offset=[-m / 256.0 for m in mean], name="dlib_input")(image)
    tags, count = {}, {}
    for layer in layers:
        kind = layer.kind
        count[kind] = count.get(kind, 0) + 1
        lname = f"{kind}_{count[kind]}"
        if kind == "tag":
            tags[layer.args[0]] = x
        elif kind == "skip":
            x = tags[layer.args[0]]
        elif kind == "con":
            filters, size, stride = layer.args
            if stride == 1:
                x = keras.layers.ZeroPadding2D(size // 2, name=f"pad_{count[kind]}")(x)
            x = keras.layers.Conv2D(filters, size, strides=stride, name=lname)(x)
        elif kind == "affine":
            x = ChannelAffine(name=lname)(x)
        elif kind == "relu":
            x = keras.layers.ReLU(name=lname)(x)
        elif kind == "max_pool":
            x = keras.layers.MaxPooling2D(layer.args[0], layer.args[1], name=lname)(x)
        elif kind == "avg_pool" and layer.args[0] == 0:
            x = keras.layers.GlobalAveragePooling2D(name="avg_pool_everything")(x)
        elif kind == "avg_pool":
            x = keras.layers.AveragePooling2D(layer.args[0], layer.args[1], name=lname)(x)
        elif kind == "add_prev":
            x = ZeroExtendAdd(name=lname)([x, tags[layer.args[0]]])
        elif kind == "fc":
            x = keras.layers.Dense(layer.args[0], use_bias=False, name="embedding")(x)
        else:
            raise ValueError(f"Unknown dlib layer kind {kind!r}")
    model = keras.Model(image, x, name=name)
    if isinstance(weights, FaceResNetWeights):
        _assign(model, layers)
    # Ready to fine-tune with a metric loss on dlib's scale: its rule is "same person
    # below 0.6", trained with a margin of 0.04 each side, hence 0.08 between the sides.
    model.compile(optimizer=keras.optimizers.Adam(FINE_TUNE_LEARNING_RATE),
                  loss=TripletLoss(margin=0.08, distance="euclidean"))
    return model


def _assign(model: keras.Model, layers) -> None:
    """Copy the file's arrays into the Keras layers, in order."""
    con = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    aff = [layer for layer in model.layers if isinstance(layer, ChannelAffine)]
    dlib_con = [layer for layer in layers if layer.kind == "con"]
    dlib_aff = [layer for layer in layers if layer.kind == "affine"]
    for k, d in zip(con, dlib_con, strict=True):
        k.set_weights([d.weights["kernel"], d.weights["bias"]])
    for k, d in zip(aff, dlib_aff, strict=True):
        k.set_weights([d.weights["gamma"], d.weights["beta"]])
    fc = next(layer for layer in layers if layer.kind == "fc")
    model.get_layer("embedding").set_weights([fc.weights["kernel"]])



# -- the face entries built on it (transfer learning from dlib's network) -------------
CHIP_SHAPE = (CHIP_SIZE, CHIP_SIZE, 3)
# Approach 2 unfreezes the top of the network: the last block's second conv and
# its affine, and the 128-d embedding layer (623k weights; the published
# fine-tuned weights stay under the 5 MB artifact budget).
TOP_LAYERS = ("con_29", "affine_29", "embedding")


def build_face_resnet_verify(weights="dlib"):
    """Tied face_resnet towers (sub-model "embed") and a euclidean head: the
    score is the distance of the two embeddings (lower = same person).

    Args:
        weights: see `build_face_resnet`.
    """
    from zoo.layers.heads import PairDistance
    from zoo.losses.contrastive import ContrastiveLoss

    tower = build_face_resnet(weights, name="embed")
    image_a = keras.Input(CHIP_SHAPE, name="image_a")
    image_b = keras.Input(CHIP_SHAPE, name="image_b")
    score = PairDistance("euclidean", name="score")([tower(image_a), tower(image_b)])
    model = keras.Model([image_a, image_b], score, name="face_resnet_verify")
    # Pairs labelled 1 = same person; different people pushed past dlib's 0.6 + 0.04.
    model.compile(optimizer=keras.optimizers.Adam(FINE_TUNE_LEARNING_RATE),
                  loss=ContrastiveLoss(margin=0.64))
    return model


def build_face_resnet_knn(weights="dlib", num_classes=10, gallery_size=50):
    """Frozen face_resnet + a euclidean 1-NN identity head ("knn"): per enrolled
    person, the distance to their nearest enrolled face (lower = nearer).

    Args:
        weights: see `build_face_resnet`.
        num_classes: enrolled people.
        gallery_size: enrolled faces in total.
    """
    from zoo.layers.heads import NearestNeighbourHead

    tower = build_face_resnet(weights, name="embed")
    tower.trainable = False
    image = keras.Input(CHIP_SHAPE, name="image")
    head = NearestNeighbourHead(num_classes, gallery_size, metric="euclidean", name="knn")
    return keras.Model(image, head(tower(image, training=False)), name="face_resnet_knn")


def build_face_resnet_classifier(weights="dlib", num_classes=10, hidden=(64,), dropout=0.2,
                                 learning_rate=1e-3, trainable=False):
    """face_resnet (sub-model "embed") + a new softmax head: approach 1 when
    frozen (`trainable=False`); `unfreeze_top` turns it into approach 2.

    Args:
        weights: see `build_face_resnet`.
        num_classes, hidden, dropout, learning_rate, trainable: see
            `zoo.models.transfer.build_transfer_classifier`.
    """
    from zoo.models.transfer import build_transfer_classifier

    tower = build_face_resnet(weights, name="embed")
    return build_transfer_classifier(tower, num_classes, hidden, dropout, learning_rate,
                                     trainable, name="face_resnet_classifier")


def unfreeze_top(model, learning_rate=1e-4, layers=TOP_LAYERS):
    """Approach 2 on face_resnet: make only `layers` of the "embed" tower
    trainable (the rest stays frozen) and recompile with a lower rate.

    Args:
        model: a `build_face_resnet_classifier` model.
        learning_rate: the fine-tuning Adam learning rate.
        layers: names of the tower's layers to train.
    """
    tower = model.get_layer("embed")
    tower.trainable = True
    unknown = sorted(set(layers) - {layer.name for layer in tower.layers})
    if unknown:
        raise ValueError(f"The tower has no layers {unknown}. Received: layers={layers!r}")
    for layer in tower.layers:
        layer.trainable = layer.name in layers
    model.compile(optimizer=keras.optimizers.Adam(float(learning_rate)),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model
