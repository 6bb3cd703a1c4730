"""The runtime face alignment: box -> 5 dlib landmarks -> dlib's 150x150 chip, in NumPy.

No face detector runs here: a face is either given with its box or is taken to
be already framed (an ORL-style portrait), and then `FRAMED_FACE_BOX` is used.
"""

from __future__ import annotations

import functools

import numpy as np

from zoo.faces.chips import extract_chip
from zoo.faces.landmarks import ShapePredictor, as_box, check_image

# The mean box of dlib's CNN face detector (mmod_human_face_detector.dat, upsampling 1,
# the most confident detection per image) over the 400 ORL faces (112x92): it found a
# face in 400 of 400; mean box (3.3, 23.7, 79.4, 99.5) px, std (8.6, 8.1, 6.6, 6.0) px.
# Fractions of the image's (width, height, width, height); remeasure with
# `python -m benchmarks.framed_face_box`.
FRAMED_FACE_BOX = (0.0359, 0.2115, 0.8627, 0.8884)


def framed_face_box(height: int, width: int) -> tuple[int, int, int, int]:
    """The face box assumed for an image that is already a framed face.

    Args:
        height: the image's height in pixels.
        width: the image's width in pixels.

    Returns:
        `(left, top, right, bottom)` ints, inclusive, as a `dlib.rectangle`.
    """
    if not all(isinstance(v, (int, np.integer)) and v > 0 for v in (height, width)):
        raise ValueError(
            f"height and width must be positive ints. Received: height={height!r}, width={width!r}"
        )
    left, top, right, bottom = FRAMED_FACE_BOX
    return (int(round(left * width)), int(round(top * height)),
            int(round(right * width)), int(round(bottom * height)))


@functools.lru_cache(maxsize=1)
def default_predictor() -> ShapePredictor:
    """The package's 5-point shape predictor, read once."""
    return ShapePredictor.from_dat()


def align_faces(images, size: int = 150, padding: float = 0.25, boxes=None) -> np.ndarray:
    """Aligned face chips, as dlib's `get_face_chip` after its 5-point landmarks.

    Args:
        images: raw faces: a uint8 (N, H, W) / (N, H, W, 3) array or a sequence of
            uint8 (H, W) grey / (H, W, 3) RGB arrays (sizes may differ).
        size: the chips' side in pixels.
        padding: the border around the template face, as a fraction of its size.
        boxes: one `(left, top, right, bottom)` per image; default: `framed_face_box`.

    Returns:
        uint8 (N, size, size, 3) RGB chips.
    """
    images = _as_image_list(images)
    if boxes is None:
        boxes = [framed_face_box(*image.shape[:2]) for image in images]
    else:
        boxes = [as_box(box) for box in boxes]
        if len(boxes) != len(images):
            raise ValueError(
                f"align_faces needs one box per image; got {len(images)} images and "
                f"{len(boxes)} boxes. Received: boxes={boxes!r:.200}"
            )
    landmarks = default_predictor().predict(images, boxes)
    return np.stack([extract_chip(image, points, size, padding)
                     for image, points in zip(images, landmarks)])


def _as_image_list(images) -> list[np.ndarray]:
    """`images` as a list of checked uint8 face arrays."""
    if isinstance(images, np.ndarray):
        if images.dtype.kind == "f" and np.isnan(images).any():
            raise ValueError(
                "align_faces got NaN pixels; pass uint8 images (0..255). "
                f"Received: images with shape {images.shape} and NaN values"
            )
        if images.ndim not in (3, 4) or (images.ndim == 3 and images.shape[2] == 3):
            raise ValueError(
                "align_faces needs a batch: (N, H, W) grey or (N, H, W, 3) RGB uint8; for one "
                f"image pass `image[None]`. Received: images with shape {images.shape}"
            )
        images = list(images)
    elif not isinstance(images, (list, tuple)):
        raise ValueError(
            "align_faces needs a uint8 array or a list of uint8 arrays. "
            f"Received: images={images!r:.80}"
        )
    if not images:
        raise ValueError("align_faces got an empty batch; pass at least one image. Received: images=[]")
    for image in images:
        if isinstance(image, np.ndarray) and image.dtype.kind == "f" and np.isnan(image).any():
            raise ValueError(
                "align_faces got NaN pixels; pass uint8 images (0..255). "
                f"Received: an image with shape {image.shape} and NaN values"
            )
    return [check_image(image) for image in images]
