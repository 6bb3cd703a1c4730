"""dlib's aligned face chips (`dlib.get_face_chip`) for 5-point landmarks, in NumPy.

Follows `dlib/image_transforms/interpolation.h`: `get_face_chip_details` (a
mean-face template fitted to the landmarks by `find_similarity_transform`, kept
as a rectangle and an angle, as `chip_details`), `extract_image_chips`
(bilinear sampling, out-of-image reads as black, values truncated to uint8)
and, when the face is more than twice the chip's size, the `pyramid_down<2>`
levels of `dlib/image_transforms/image_pyramid.h` it samples from instead.
dlib's plain-copy shortcut for a chip with angle exactly 0 and scale exactly 1
is not replicated (5 real landmarks never give it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from zoo.faces.landmarks import check_image, similarity_transforms

# dlib's 5-point mean face in a unit square (eye corners left to right as dlib
# numbers them, then the base of the nose); `get_face_chip_details`.
TEMPLATE_5 = np.array([
    [0.8595674595992, 0.2134981538014],
    [0.6460604764104, 0.2289674387677],
    [0.1205750620789, 0.2137274526848],
    [0.3340850613712, 0.2290642403242],
    [0.4901123135679, 0.6277975316475],
])


@dataclass(frozen=True)
class ChipDetails:
    """dlib's `chip_details`: where a square chip sits in the image.

    Args:
        rect: `(left, top, right, bottom)` in image pixels, before rotation.
        angle: the rotation (radians) about the rectangle's centre.
        size: the chip's side in pixels.
    """

    rect: tuple[float, float, float, float]
    angle: float
    size: int

    def corners(self, rect=None) -> np.ndarray:
        """The rotated top-left, top-right, bottom-left, bottom-right corners of `rect` (default: own)."""
        left, top, right, bottom = self.rect if rect is None else rect
        centre = np.array([left + right, top + bottom]) / 2.0
        cos, sin = np.cos(self.angle), np.sin(self.angle)
        points = np.array([[left, top], [right, top], [left, bottom], [right, bottom]]) - centre
        return np.stack([cos * points[:, 0] - sin * points[:, 1],
                         sin * points[:, 0] + cos * points[:, 1]], axis=1) + centre

    def to_image(self, rect=None) -> np.ndarray:
        """The 2x3 affine map from chip pixels `(x, y, 1)` to image pixels (of `rect`)."""
        tl, tr, bl, _ = self.corners(rect)
        last = self.size - 1
        return np.stack([(tr - tl) / last, (bl - tl) / last, tl], axis=1)


def chip_transform(landmarks, size: int = 150, padding: float = 0.25) -> ChipDetails:
    """Where dlib cuts the chip for 5 landmarks (`get_face_chip_details`).

    Args:
        landmarks: (5, 2) `(x, y)` points from the 5-point shape predictor.
        size: the chip's side in pixels.
        padding: the border around the template face, as a fraction of its size.
    """
    points = np.asarray(landmarks, dtype=np.float64)
    if points.shape != (5, 2) or not np.isfinite(points).all():
        raise ValueError(
            "chip_transform needs 5 finite (x, y) landmarks from the 5-point predictor. "
            f"Received: landmarks with shape {points.shape}"
        )
    if not isinstance(size, (int, np.integer)) or size < 2:
        raise ValueError(f"The chip size must be an int >= 2. Received: size={size!r}")
    if not np.isfinite(padding) or padding < 0:
        raise ValueError(f"padding must be a finite number >= 0. Received: padding={padding!r}")
    padding = float(np.float32(padding))  # dlib's python binding takes a float
    template = (padding + TEMPLATE_5) / (2 * padding + 1) * size
    m, b = similarity_transforms(template[None], points[None])
    m, b = m[0], b[0]
    angle = float(np.arctan2(m[1, 0], m[0, 0]))
    scale = float(np.hypot(m[0, 0], m[1, 0]))
    cx, cy = m @ np.array([size / 2.0, size / 2.0]) + b
    half = (size * scale - 1) / 2  # centered_drect takes one off the width
    return ChipDetails((cx - half, cy - half, cx + half, cy + half), angle, int(size))


def _area(rect) -> float:
    left, top, right, bottom = rect
    if left > right or top > bottom:
        return 0.0
    return (right - left + 1) * (bottom - top + 1)


def _rect_down(rect):
    """`pyramid_down<2>::rect_down`: a rectangle's place one pyramid level down."""
    left, top, right, bottom = rect
    return (left / 2 - 1.25, top / 2 - 0.75, right / 2 - 1.25, bottom / 2 - 0.75)


def pyramid_down(image: np.ndarray) -> np.ndarray:
    """One `pyramid_down<2>` level: a [1 4 6 4 1]^2 / 256 blur, every other pixel, in integers.

    Args:
        image: uint8 (H, W, 3).
    """
    rows, cols = image.shape[:2]
    if rows <= 8 or cols <= 8:
        return np.zeros((0, 0) + image.shape[2:], np.uint8)
    out_rows, out_cols = (rows - 3) // 2, (cols - 3) // 2
    x = image.astype(np.uint32)
    weights = (1, 4, 6, 4, 1)
    across = sum(w * x[:, k : k + 2 * out_cols : 2] for k, w in enumerate(weights))
    down = sum(w * across[k : k + 2 * out_rows : 2] for k, w in enumerate(weights))
    return (down // 256).astype(np.uint8)


def _lround(x: float) -> int:
    """C's `lround`: halves away from zero."""
    return int(np.sign(x) * np.floor(abs(x) + 0.5))


def _bilinear(image: np.ndarray, affine: np.ndarray, size: int) -> np.ndarray:
    """dlib's `interpolate_bilinear` of `image` at `affine @ (x, y, 1)` for each chip pixel."""
    if min(image.shape[:2]) < 2:  # nothing to interpolate between: all background
        return np.zeros((size, size, 3), np.uint8)
    rows, cols = np.mgrid[0:size, 0:size].astype(np.float64)
    x = affine[0, 0] * cols + affine[0, 1] * rows + affine[0, 2]
    y = affine[1, 0] * cols + affine[1, 1] * rows + affine[1, 2]
    left, top = np.floor(x), np.floor(y)
    inside = (left >= 0) & (top >= 0) & (left + 1 < image.shape[1]) & (top + 1 < image.shape[0])
    li = np.where(inside, left, 0).astype(np.intp)
    ti = np.where(inside, top, 0).astype(np.intp)
    fx, fy = (x - left)[..., None], (y - top)[..., None]
    img = image.astype(np.float64)
    value = (1 - fy) * ((1 - fx) * img[ti, li] + fx * img[ti, li + 1]) + fy * (
        (1 - fx) * img[ti + 1, li] + fx * img[ti + 1, li + 1])
    return np.where(inside[..., None], value, 0).astype(np.uint8)  # truncation, as dlib


def extract_chip(image: np.ndarray, landmarks, size: int = 150, padding: float = 0.25) -> np.ndarray:
    """The aligned face chip, as `dlib.get_face_chip(rgb, shape, size, padding)` gives it.

    Args:
        image: uint8 (H, W) grey (treated as RGB with three equal channels) or (H, W, 3) RGB.
        landmarks: (5, 2) `(x, y)` points from the 5-point shape predictor.
        size: the chip's side in pixels.
        padding: the border around the template face, as a fraction of its size.

    Returns:
        uint8 (size, size, 3) RGB.
    """
    image = check_image(image)
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    details = chip_transform(landmarks, size, padding)
    chip_area = size * size
    # the part of the image the chip needs (grown by a border that covers the pyramid's blur)
    rect, grow = _rect_down(details.rect), 2.0
    while _area(rect) > chip_area:
        rect, grow = _rect_down(rect), grow * 2 + 2
    left, top, right, bottom = details.rect
    corners = details.corners()
    low, high = corners.min(axis=0) - grow, corners.max(axis=0) + grow
    box = [_lround(max(low[0], 0)), _lround(max(low[1], 0)),
           _lround(min(high[0], image.shape[1] - 1)), _lround(min(high[1], image.shape[0] - 1))]
    if box[0] > box[2] or box[1] > box[3]:
        return np.zeros((size, size, 3), np.uint8)
    source = image[box[1] : box[3] + 1, box[0] : box[2] + 1]
    rect = (left - box[0], top - box[1], right - box[0], bottom - box[1])
    while _area(_rect_down(rect)) > chip_area:
        source, rect = pyramid_down(source), _rect_down(rect)
    return _bilinear(source, details.to_image(rect), size)
