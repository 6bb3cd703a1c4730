"""dlib's tiled image pyramid, in NumPy: every level of an image packed into one image.

This follows `dlib/image_transforms/image_pyramid.h` (`pyramid_down<N>`,
`compute_tiled_image_pyramid_details`, `tiled_pyramid_to_image`), the CPU path of
`input_rgb_image_pyramid::to_tensor` (`dlib/dnn/input.h`, which builds each level
from the previous one with `tt::resize_bilinear`), and the bilinear `resize_image`
and `pyramid_up` of `dlib/image_transforms/interpolation.h`, including their SIMD
arithmetic (float32 column positions accumulated four at a time).

Rectangles are dlib's: (left, top, right, bottom) with inclusive corners.
"""

from __future__ import annotations

import math

import numpy as np

MIN_LEVEL_HEIGHT = 5  # compute_tiled_image_pyramid_details stops below this


def level_sizes(nr: int, nc: int, downscale: int) -> list[tuple[int, int]]:
    """The (rows, cols) of each level of a `pyramid_down<downscale>` pyramid.

    Args:
        nr, nc: the image's size.
        downscale: N of `pyramid_down<N>`; each level is (N-1)/N of the previous.
    """
    if downscale < 3:
        raise ValueError("Only pyramid_down<N> with N >= 3 has this level rule. "
                         f"Received: downscale={downscale!r}")
    rate = (downscale - 1.0) / downscale
    sizes = [(nr, nc)]
    while True:
        nr, nc = math.floor(rate * nr), math.floor(rate * nc)
        if nr * nc == 0 or nr < MIN_LEVEL_HEIGHT:
            return sizes
        sizes.append((nr, nc))


def tile_layout(nr: int, nc: int, downscale: int, padding: int, outer_padding: int
                ) -> tuple[list[tuple[int, int, int, int]], int, int]:
    """Where each pyramid level sits in the tiled image, and the tiled image's size.

    The levels run down a first column (the full image on top) until the rest fit
    beside the earlier ones; those climb back up along the right edge, and a level
    that would overlap the full image is dropped.

    Args:
        nr, nc: the image's size.
        downscale: N of `pyramid_down<N>`.
        padding: pixels between levels.
        outer_padding: pixels around the whole tiled image.

    Returns:
        (rects, rows, cols): one rectangle per level, and the tiled image's size.
    """
    if nr * nc == 0:
        return [], 0, 0
    sizes = level_sizes(nr, nc, downscale)
    total_height = sum(h + padding for h, _ in sizes) - 2 * padding
    height, prev_width = 0, 0
    for h, w in sizes:
        if w <= nc - prev_width - padding and (height - nr) * 2 >= total_height - nr:
            break
        height += h + padding
        prev_width = w
    height -= padding
    rects, y, i = [], outer_padding, 0
    while y < height + outer_padding and i < len(sizes):
        h, w = sizes[i]
        rects.append((outer_padding, y, outer_padding + w - 1, y + h - 1))
        y += h + padding
        i += 1
    y -= padding
    while i < len(sizes):
        h, w = sizes[i]
        right, bottom = outer_padding + nc - 1, y - 1
        rect = (right - w + 1, bottom - h + 1, right, bottom)
        if _intersects(rects[0], rect):
            break
        rects.append(rect)
        y -= h + padding
        i += 1
    return rects, height + 2 * outer_padding, nc + 2 * outer_padding


def _intersects(a, b) -> bool:
    return max(a[0], b[0]) <= min(a[2], b[2]) and max(a[1], b[1]) <= min(a[3], b[3])


def tiled_pyramid(image: np.ndarray, rects, rows: int, cols: int, background) -> np.ndarray:
    """The tiled image: `image` in `rects[0]`, each next level resized from the previous.

    Args:
        image: float32 [nr, nc, C], the full-size level.
        rects, rows, cols: from `tile_layout`.
        background: the value (scalar or per channel) of the pixels outside the levels.
    """
    tile = np.empty((rows, cols, image.shape[-1]), np.float32)
    tile[...] = np.asarray(background, np.float32)
    if not rects:
        return tile
    prev = _place(tile, rects[0], image)
    for rect in rects[1:]:
        prev = _place(tile, rect, resize_bilinear(prev, rect[3] - rect[1] + 1, rect[2] - rect[0] + 1))
    return tile


def _place(tile, rect, level):
    left, top, right, bottom = rect
    tile[top : bottom + 1, left : right + 1] = level
    return tile[top : bottom + 1, left : right + 1]


def resize_bilinear(image: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """dlib's bilinear `resize_image` of a float image (corners map to corners).

    Output pixel (r, c) samples the input at (c * sx, r * sy) with
    sx = (in_cols - 1) / (cols - 1). Like dlib's SIMD loop, column positions are
    float32 sums stepped four columns at a time and the weights are float32; the
    last columns (where a 4-wide step would read past the edge) are blended in
    float64 (with float32 row blends for a float32 image, as dlib's float loop).

    Args:
        image: float [in_rows, in_cols, C].
        rows, cols: the output size.

    Returns:
        float32 [rows, cols, C] for float32 input; the pre-rounding float64 values
        otherwise (see `pyramid_up`).
    """
    in_rows, in_cols = image.shape[:2]
    if rows <= 0 or cols <= 0 or in_rows == 0 or in_cols == 0:
        raise ValueError(f"Cannot resize a {image.shape[:2]} image to {(rows, cols)}. "
                         "Both sizes must be positive.")
    sx = (in_cols - 1) / max(cols - 1, 1)
    sy = (in_rows - 1) / max(rows - 1, 1)
    y = np.add.accumulate(np.r_[-sy, np.full(rows, sy)])[1:]  # y += sy, in float64
    top = np.floor(y).astype(np.int64)
    bottom = np.minimum(top + 1, in_rows - 1)
    ty = y - top
    # SIMD columns: four lanes start at -4 sx + k sx and step by 4 sx, in float32.
    chunks = cols // 4 + 1
    start = np.float32(-4 * sx + np.arange(4) * sx)
    lanes = np.add.accumulate(np.vstack([start, np.full((chunks, 4), np.float32(4 * sx))]), axis=0,
                              dtype=np.float32)[1:]
    over = (lanes[:, 3].astype(np.int64) + 1) >= in_cols
    simd = 4 * int(np.argmax(over)) if over.any() else 4 * chunks
    simd = min(simd, cols)
    x32 = lanes.reshape(-1)[:simd]
    left32 = x32.astype(np.int64)  # truncation, as _mm_cvttps_epi32
    fx32 = x32 - left32.astype(np.float32)
    # Tail columns: x = -sx + c sx, then x += sx, in float64.
    x64 = -sx + simd * sx + np.add.accumulate(np.full(cols - simd, sx))
    left64 = np.floor(x64).astype(np.int64)
    fx64 = x64 - left64

    out = np.empty((rows, cols, image.shape[2]), np.float32 if image.dtype == np.float32 else np.float64)
    if simd:
        ty32, fx = ty.astype(np.float32)[:, None, None], fx32[None, :, None]
        ity32 = (1 - ty).astype(np.float32)[:, None, None]
        ifx = np.float32(1) - fx
        src = image.astype(np.float32, copy=False)
        t, b, lc = top[:, None], bottom[:, None], left32[None, :]
        acc = (ity32 * ifx) * src[t, lc]
        acc += (ity32 * fx) * src[t, lc + 1]
        acc += (ty32 * ifx) * src[b, lc]
        acc += (ty32 * fx) * src[b, lc + 1]
        out[:, :simd] = acc
    if cols > simd:
        right64 = np.minimum(left64 + 1, in_cols - 1)
        t = ty[:, None, None]
        # the float image loop keeps the column fraction and the row blends in float32
        fx = fx64.astype(image.dtype)[None, :, None]
        t_, b_ = top[:, None], bottom[:, None]
        tl, tr = image[t_, left64[None, :]], image[t_, right64[None, :]]
        bl, br = image[b_, left64[None, :]], image[b_, right64[None, :]]
        one = np.ones((), image.dtype)
        upper, lower = (one - fx) * tl + fx * tr, (one - fx) * bl + fx * br
        out[:, simd:] = (1 - t) * upper.astype(np.float64) + t * lower.astype(np.float64)
    return out


def pyramid_up(image: np.ndarray) -> np.ndarray:
    """dlib's `pyramid_up(img, pyramid_down<2>)` of a uint8 RGB image.

    The output is (2 rows + 1, 2 cols + 2): `pyramid_down<2>::rect_up` of the image's
    rectangle, rounded. Values are truncated to uint8, as dlib's RGB resize does.

    Args:
        image: uint8 [rows, cols, 3].
    """
    if image.dtype != np.uint8 or image.ndim != 3:
        raise ValueError(f"pyramid_up needs a uint8 [rows, cols, 3] image. "
                         f"Received: image.dtype={image.dtype}, image.shape={image.shape}")
    rows, cols = image.shape[:2]
    if rows * cols == 0:
        return np.zeros((0, 0, 3), np.uint8)
    up = resize_bilinear(image.astype(np.float64), 2 * rows + 1, 2 * cols + 2)
    return np.clip(np.trunc(up), 0, 255).astype(np.uint8)


def rect_down_2(rect, levels: int):
    """`pyramid_down<2>::rect_down(rect, levels)`, rounded: a box of an image upsampled
    `levels` times by `pyramid_up`, in the original image."""
    left, top, right, bottom = (float(v) for v in rect)
    for _ in range(levels):
        left, top, right, bottom = left / 2 - 1.25, top / 2 - 0.75, right / 2 - 1.25, bottom / 2 - 0.75
    return tuple(lround(v) for v in (left, top, right, bottom))


def lround(value: float) -> int:
    """C's `lround`: to the nearest integer, halves away from zero."""
    return int(math.copysign(math.floor(abs(value) + 0.5), value))


def tile_to_image(rects, box, downscale: int):
    """`tiled_pyramid_to_image`: a box in the tiled image, in the full image's pixels.

    The level is the one whose rectangle holds (or is nearest to) the box's centre,
    rounded; the box is moved to that level's origin and scaled up by
    `pyramid_down<downscale>::point_up` (p * N/(N-1) + 0.3) once per level.

    Args:
        rects: the levels' rectangles (`tile_layout`).
        box: (left, top, right, bottom) floats in the tiled image.
        downscale: N of `pyramid_down<N>`.
    """
    left, top, right, bottom = box
    cx, cy = math.floor((left + right) / 2 + 0.5), math.floor((top + bottom) / 2 + 0.5)
    level = _nearest_rect(rects, cx, cy)
    ox, oy = rects[level][0], rects[level][1]
    left, top, right, bottom = left - ox, top - oy, right - ox, bottom - oy
    ratio = downscale / (downscale - 1.0)
    for _ in range(level):
        left, top, right, bottom = (v * ratio + 0.3 for v in (left, top, right, bottom))
    return left, top, right, bottom


def _nearest_rect(rects, x: int, y: int) -> int:
    best, best_dist = 0, math.inf
    for i, (left, top, right, bottom) in enumerate(rects):
        if left <= x <= right and top <= y <= bottom:
            return i
        dist = math.hypot(min(max(x, left), right) - x, min(max(y, top), bottom) - y)
        if dist < best_dist:
            best, best_dist = i, dist
    return best
