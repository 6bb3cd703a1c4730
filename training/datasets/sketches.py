"""Edge-map "sketches" of photos, the second domain of the cross-domain model."""

import numpy as np
from scipy import ndimage


def edge_sketch(images) -> np.ndarray:
    """Sobel gradient magnitude of each image, rescaled to 0..255 per image.

    Args:
        images: uint8 (N, H, W).

    Returns:
        uint8 (N, H, W): bright strokes on the photo's edges, dark elsewhere.
    """
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 3:
        raise ValueError("edge_sketch expects uint8 images (N, H, W). Received: "
                         f"dtype={images.dtype}, shape={images.shape}")
    x = images.astype(np.float32)
    magnitude = np.hypot(ndimage.sobel(x, axis=1), ndimage.sobel(x, axis=2))
    peak = magnitude.reshape(len(x), -1).max(axis=1).reshape(-1, 1, 1)
    return np.rint(255.0 * magnitude / np.maximum(peak, 1e-6)).astype(np.uint8)
