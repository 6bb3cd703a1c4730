"""dlib's CNN face detector as a functional Keras 3 model: image -> MMOD score map.

The layer list comes from `zoo.faces.mmod_dat.architecture()`, the list that reads
the `.dat` file (`examples/dnn_mmod_face_detection_ex.cpp`). Height and width are
dynamic, so one graph (and one ONNX file) scores every tiled pyramid
(`zoo.faces.detector` builds them). Each con pads with zeros by the amount the file
stores, then convolves with 'valid' padding, as dlib does.

Input: float32 [N, H, W, 3] RGB with pixels in [0, 1]. dlib's input normalization,
`(pixel - mean) / 256` on the 0..255 scale, is inside the graph, so a pixel equal
to the mean colour becomes the zero dlib pads the pyramid with.
Output: the score map [N, h, w, 1] with h = f(f(f(H))), f(n) = (n - 3) // 2
(three 5x5/2 'valid' convs) and w likewise; score-map pixel (r, c) is the window
centred on tile pixel (8c + 14, 8r + 14), a face when its score is > 0
(`zoo.faces.detector` decodes it).
"""

from zoo import backend  # noqa: F401

import keras

from zoo.faces.mmod_dat import FaceDetectorWeights, architecture, read_face_detector
from zoo.layers.dlib import ChannelAffine

DLIB_MEAN = (122.782, 117.001, 104.298)  # overwritten by the file's own values


def build_face_detector(weights: FaceDetectorWeights | str | None = None,
                        name: str = "face_detector") -> keras.Model:
    """The detector's score-map network; with dlib's weights unless `weights="none"`.

    Args:
        weights: a `FaceDetectorWeights`, "dlib" / None to read the installed package's
            file, or "none" for fresh weights (tests, from-scratch training).
        name: the model's name.
    """
    if weights is None or weights == "dlib":
        weights = read_face_detector()
    elif not isinstance(weights, FaceDetectorWeights) and weights != "none":
        raise ValueError(f"weights must be a FaceDetectorWeights, 'dlib', None or 'none'. "
                         f"Received: weights={weights!r}")
    trained = isinstance(weights, FaceDetectorWeights)
    mean = weights.input_mean if trained else DLIB_MEAN
    layers = weights.layers if trained else architecture()

    image = keras.Input((None, None, 3), name="image")
    # (255 x - mean) / 256 for pixels x in [0, 1]
    x = keras.layers.Rescaling(255.0 / 256.0, offset=[-m / 256.0 for m in mean], name="dlib_input")(image)
    count = {}
    for layer in layers:
        kind = layer.kind
        count[kind] = count.get(kind, 0) + 1
        lname = f"{kind}_{count[kind]}"
        if kind == "con":
            filters, size, stride = layer.args
            # untrained: dlib's con default, size // 2 at stride 1 and 0 otherwise
            padding = layer.weights["padding"] if trained else (size // 2 if stride == 1 else 0,) * 2
            if any(padding):
                x = keras.layers.ZeroPadding2D(tuple(padding), name=f"pad_{count[kind]}")(x)
            x = keras.layers.Conv2D(filters, size, strides=stride, name=lname)(x)
        elif kind == "affine":
            x = ChannelAffine(name=lname)(x)
        elif kind == "relu":
            x = keras.layers.ReLU(name=lname)(x)
        else:
            raise ValueError(f"Unknown dlib layer kind {kind!r}")
    model = keras.Model(image, x, name=name)
    if trained:
        _assign(model, layers)
    return model


def _assign(model: keras.Model, layers) -> None:
    """Copy the file's arrays into the Keras layers, in order."""
    con = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    aff = [layer for layer in model.layers if isinstance(layer, ChannelAffine)]
    for k, d in zip(con, [layer for layer in layers if layer.kind == "con"], strict=True):
        k.set_weights([d.weights["kernel"], d.weights["bias"]])
    for k, d in zip(aff, [layer for layer in layers if layer.kind == "affine"], strict=True):
        k.set_weights([d.weights["gamma"], d.weights["beta"]])
