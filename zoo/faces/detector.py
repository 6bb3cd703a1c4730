"""dlib's CNN face detector around a score-map function, in NumPy (no dlib, no TensorFlow).

This is `cnn_face_detection_model_v1(img, upsample_num_times)` of
`tools/python/src/cnn_face_detector.cpp`: the image is upsampled with `pyramid_up`
`upsample_num_times` times, tiled into one image pyramid (`zoo.faces.pyramid`),
scored by the network, and decoded as `loss_mmod_::to_label` does
(`dlib/dnn/loss.h`): every score-map pixel with a score > 0 is a detector window
centred on the tile pixel it maps to, mapped back into the image; windows are
taken best first and a window overlapping a kept one (`test_box_overlap`) is dropped.
Boxes are finally scaled back down by `pyramid_down<2>::rect_down`.

The score-map function is anything that maps the tiled float32 [1, H, W, 3] RGB
image with pixels in [0, 1] to the [1, h, w(, 1)] map: the Keras model of
`zoo.models.face_detector`, or an `onnxruntime` session wrapped by `onnx_score_fn`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from zoo.faces import pyramid
from zoo.faces.mmod_dat import PYRAMID_DOWNSCALE, BoxOverlap, FaceDetectorWeights, read_face_detector

Box = tuple[int, int, int, int]  # left, top, right, bottom, inclusive (dlib.rectangle)


@dataclass(frozen=True)
class Detection:
    """One face: `box` (left, top, right, bottom) in image pixels and its score."""

    box: Box
    confidence: float


def overlaps(test: BoxOverlap, a: Box, b: Box) -> bool:
    """dlib's `test_box_overlap(a, b)` on integer rectangles.

    True when the intersection's area over the area of the boxes' bounding box
    exceeds `test.iou`, or the intersection covers more than `test.covered` of either.
    """
    inner = _area((max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])))
    if inner == 0:
        return False
    outer = _area((min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])))
    return (inner / outer > test.iou or inner / _area(a) > test.covered
            or inner / _area(b) > test.covered)


def _area(rect) -> int:
    width, height = rect[2] - rect[0] + 1, rect[3] - rect[1] + 1
    return width * height if width > 0 and height > 0 else 0


def non_max_suppression(detections: list[Detection], test: BoxOverlap) -> list[Detection]:
    """Keep detections best first, dropping any that `overlaps` a kept one."""
    kept: list[Detection] = []
    for det in sorted(detections, key=lambda d: -d.confidence):
        if not any(overlaps(test, k.box, det.box) for k in kept):
            kept.append(det)
    return kept


class FaceDetector:
    """dlib's MMOD CNN face detector with the network supplied as a function.

    Args:
        score_fn: tiled float32 [1, H, W, 3] image (pixels in [0, 1]) -> score map
            [1, h, w] or [1, h, w, 1] (NumPy or anything `np.asarray` accepts).
        weights: the detector's settings (`read_face_detector()` by default); only
            its input, pyramid, loss and con geometry settings are used here.
        threshold: dlib's `adjust_threshold`: windows scoring above it are faces.
    """

    def __init__(self, score_fn: Callable, weights: FaceDetectorWeights | None = None,
                 threshold: float = 0.0):
        self.score_fn = score_fn
        self.weights = weights or read_face_detector()
        self.threshold = float(threshold)
        # output -> input of each con (layers.h `map_output_to_input`), outermost first
        self._cons = [(layer.args[2], layer.weights["padding"], layer.args[1])
                      for layer in reversed(self.weights.layers) if layer.kind == "con"]

    def detect(self, image: np.ndarray, upsample: int = 0) -> list[Detection]:
        """The faces in `image`, in dlib's order (best first).

        Args:
            image: uint8 [rows, cols] grey or [rows, cols, 3] RGB.
            upsample: how many times to double the image first (finds smaller faces);
                dlib's `upsample_num_times`.
        """
        rgb = _as_rgb(image)
        if not isinstance(upsample, (int, np.integer)) or upsample < 0:
            raise ValueError(f"upsample must be a non-negative int. Received: upsample={upsample!r}")
        for _ in range(upsample):
            rgb = pyramid.pyramid_up(rgb)
        tile, rects = self.tile(rgb)
        shape = self._score_shape(tile.shape[:2])
        if min(shape) <= 0:  # too small for one window (dlib raises here)
            return []
        scores = np.asarray(self.score_fn(tile[None]), dtype=np.float32).reshape(shape)
        found = non_max_suppression(self._windows(scores, rects), self.weights.options.nms)
        return [Detection(pyramid.rect_down_2(d.box, upsample), d.confidence) for d in found]

    def tile(self, image: np.ndarray) -> tuple[np.ndarray, list]:
        """The tiled pyramid of a uint8 image as float32 RGB in [0, 1], and its levels.

        Outside the levels the tile holds the mean colour, which the network's input
        normalization turns into the zeros dlib pads with.

        Args:
            image: uint8 [rows, cols] grey or [rows, cols, 3] RGB.
        """
        rgb, w = _as_rgb(image), self.weights
        rects, rows, cols = pyramid.tile_layout(*rgb.shape[:2], PYRAMID_DOWNSCALE,
                                                w.pyramid_padding, w.outer_padding)
        background = np.asarray(w.input_mean, np.float32) / np.float32(255)
        image = rgb.astype(np.float32) / np.float32(255)
        return pyramid.tiled_pyramid(image, rects, rows, cols, background), rects

    def _score_shape(self, size) -> tuple[int, int]:
        rows, cols = size
        for stride, (pad_y, pad_x), k in reversed(self._cons):
            rows, cols = (rows + 2 * pad_y - k) // stride + 1, (cols + 2 * pad_x - k) // stride + 1
        return rows, cols

    def _windows(self, scores: np.ndarray, rects) -> list[Detection]:
        """`tensor_to_dets`: each score above the threshold as a box in image pixels."""
        rows, cols = np.nonzero(scores > self.threshold)
        y, x = rows.astype(np.float64), cols.astype(np.float64)
        for stride, (pad_y, pad_x), k in self._cons:
            x, y = x * stride - pad_x + k // 2, y * stride - pad_y + k // 2
        width, height = self.weights.options.window
        out = []
        for cx, cy, score in zip(x, y, scores[rows, cols]):
            box = (cx - (width - 1) / 2, cy - (height - 1) / 2, cx + (width - 1) / 2, cy + (height - 1) / 2)
            box = pyramid.tile_to_image(rects, box, PYRAMID_DOWNSCALE)
            out.append(Detection(tuple(pyramid.lround(v) for v in box), float(score)))
        return out


def _as_rgb(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.dtype != np.uint8 or not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 3)):
        raise ValueError("The detector needs a uint8 [rows, cols] grey or [rows, cols, 3] RGB "
                         f"image. Received: dtype={image.dtype}, shape={image.shape}")
    return np.repeat(image[..., None], 3, axis=-1) if image.ndim == 2 else image


def onnx_score_fn(session) -> Callable:
    """A score-map function from an `onnxruntime.InferenceSession` of the detector."""
    name = session.get_inputs()[0].name

    def score(tile: np.ndarray) -> np.ndarray:
        return session.run(None, {name: tile})[0]

    return score
