"""Array helpers shared by the loaders: uint8 -> float model input, area resize."""

from __future__ import annotations

import numpy as np

_CHUNK = 2048


def to_float(images: np.ndarray) -> np.ndarray:
    """uint8 images -> float32 model input in [0, 1] with a channel axis.

    Args:
        images: uint8 array (N, H, W), or (N, H, W, C).

    Returns:
        float32 (N, H, W, 1) (or (N, H, W, C)) equal to `images / 255`.
    """
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim not in (3, 4):
        raise ValueError(
            "`to_float` expects uint8 images of shape (N, H, W) or (N, H, W, C), as "
            "the loaders return them. Received: "
            f"images.dtype={images.dtype}, images.shape={images.shape}"
        )
    x = images.astype(np.float32) / np.float32(255)
    return x[..., None] if x.ndim == 3 else x


def resize(images: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize by area averaging (box filter), in NumPy.

    Each output pixel is the mean of the input area it covers, weighted by
    overlap: the same rule as `tf.image.resize(method="area")` (Pillow's
    `Image.BOX` agrees only for integer factors). Use it to shrink
    Omniglot's 105x105 to 35x35 or 28x28.

    Args:
        images: (N, H, W) or (N, H, W, C), uint8 or float.
        size: the output (height, width).

    Returns:
        The resized array. uint8 input gives uint8 (rounded); any other
        dtype gives float32.
    """
    images = np.asarray(images)
    if images.ndim not in (3, 4):
        raise ValueError(
            "`resize` expects images of shape (N, H, W) or (N, H, W, C). "
            f"Received: images.shape={images.shape}"
        )
    if len(size) != 2 or min(size) < 1:
        raise ValueError(f"`size` must be (height, width) with both >= 1. Received: size={size!r}")
    rows = _area_weights(images.shape[1], int(size[0]))
    cols = _area_weights(images.shape[2], int(size[1]))
    x = images if images.ndim == 4 else images[..., None]
    out = np.empty((len(x), rows.shape[0], cols.shape[0], x.shape[3]), np.float32)
    for start in range(0, len(x), _CHUNK):
        chunk = x[start:start + _CHUNK].astype(np.float32)
        out[start:start + _CHUNK] = np.einsum("ih,nhwc,jw->nijc", rows, chunk, cols, optimize=True)
    out = out if images.ndim == 4 else out[..., 0]
    if images.dtype == np.uint8:
        return np.clip(np.rint(out), 0, 255).astype(np.uint8)
    return out


def _area_weights(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) matrix: row i averages the input span [i, i+1) * n_in / n_out."""
    scale = n_in / n_out
    lo = np.arange(n_out)[:, None] * scale
    j = np.arange(n_in)[None, :]
    overlap = np.clip(np.minimum(j + 1, lo + scale) - np.maximum(j, lo), 0, None)
    return (overlap / scale).astype(np.float32)
