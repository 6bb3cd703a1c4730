"""dlib's face landmarks (a cascade of regression trees, Kazemi & Sullivan 2014) in NumPy.

Follows `dlib/image_processing/shape_predictor.h` (`shape_predictor::operator()`,
`extract_feature_pixel_values`, `find_tform_between_shapes`,
`unnormalizing_tform`) and `find_similarity_transform` in
`dlib/geometry/point_transforms.h`, keeping dlib's float32 arithmetic and its
rounding of points (`floor(x + 0.5)`), so the landmarks are dlib's to the pixel.
"""

from __future__ import annotations

import os

import numpy as np

from zoo.faces.assets import model_path
from zoo.faces.assets import sha256 as pinned_sha256
from zoo.faces.dlib_format import DlibReader, IntStream, float_details

FILE = "shape_predictor_5_face_landmarks.dat"


def as_box(box) -> tuple[int, int, int, int]:
    """`box` as `(left, top, right, bottom)` ints, refusing anything else.

    Args:
        box: 4 numbers, inclusive corners as in `dlib.rectangle`.
    """
    try:
        values = np.asarray(box, dtype=np.float64)
    except (TypeError, ValueError):
        values = None
    if values is None or values.shape != (4,) or not np.isfinite(values).all():
        raise ValueError(
            "A face box must be 4 finite numbers (left, top, right, bottom). "
            f"Received: box={box!r}"
        )
    left, top, right, bottom = (int(round(v)) for v in values)
    if right < left or bottom < top:
        raise ValueError(f"A face box needs left <= right and top <= bottom. Received: box={box!r}")
    return left, top, right, bottom


def intensity(image: np.ndarray) -> np.ndarray:
    """The grey level dlib reads from a uint8 image: itself, or `(r + g + b) // 3` for RGB.

    Args:
        image: uint8 (H, W) or (H, W, 3).
    """
    if image.ndim == 2:
        return image
    return (image.astype(np.uint16).sum(axis=2) // 3).astype(np.uint8)


def similarity_transforms(src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares similarity maps `src -> dst` (Umeyama), batched, in float64.

    Args:
        src: (N, P, 2) points.
        dst: (N, P, 2) points.

    Returns:
        `(m, b)`: (N, 2, 2) and (N, 2), with `dst ~ src @ m.T + b`.
    """
    src, dst = np.asarray(src, np.float64), np.asarray(dst, np.float64)
    mean_src, mean_dst = src.mean(axis=1), dst.mean(axis=1)
    a, b = src - mean_src[:, None], dst - mean_dst[:, None]
    sigma_src = (a**2).sum(axis=(1, 2)) / src.shape[1]
    cov = np.einsum("npi,npj->nij", b, a) / src.shape[1]
    u, d, vt = np.linalg.svd(cov)
    s = np.ones_like(d)
    det_cov = np.linalg.det(cov)
    flip = (det_cov < 0) | ((det_cov == 0) & (np.linalg.det(u) * np.linalg.det(vt) < 0))
    # dlib flips the sign of the smaller singular value's direction
    s[flip, 1] = -1
    r = np.einsum("nij,nj,njk->nik", u, s, vt)
    c = np.where(sigma_src != 0, (d * s).sum(axis=1) / np.where(sigma_src != 0, sigma_src, 1), 1.0)
    m = c[:, None, None] * r
    return m, mean_dst - np.einsum("nij,nj->ni", m, mean_src)


def round_half_up(x: np.ndarray) -> np.ndarray:
    """dlib's conversion of a real point to an integer one: `floor(x + 0.5)`."""
    return np.floor(x + 0.5)


class ShapePredictor:
    """dlib's `shape_predictor`, read from its `.dat` file.

    Args:
        initial_shape: (P, 2) float32 mean shape in the unit box.
        cascades: per cascade level `(idx1, idx2, thresh, leaves)`: (T, S) feature
            indices and float32 thresholds of the T trees' S splits (breadth-first),
            and their (T, S + 1, P * 2) float32 leaf values.
        anchors: per level, (F,) the shape point each feature pixel hangs from.
        deltas: per level, (F, 2) float32 offsets of the feature pixels from their anchors.
    """

    def __init__(self, initial_shape, cascades, anchors, deltas):
        self.initial_shape = initial_shape
        self.cascades = cascades
        self.anchors = anchors
        self.deltas = deltas

    @property
    def num_parts(self) -> int:
        return len(self.initial_shape)

    @classmethod
    def from_dat(cls, path: str | os.PathLike | None = None,
                 sha256: str | None = None) -> "ShapePredictor":
        """Read a predictor; the default is the package's 5-point file, hash-checked.

        Args:
            path: a `shape_predictor_*.dat`; default: the package's 5-point file.
            sha256: the file's expected sha256; default: the pinned one for the
                package's file, no check for another `path`.
        """
        if path is None:
            path, sha256 = model_path(FILE), sha256 or pinned_sha256(FILE)
        reader = DlibReader.open(path, sha256=sha256)
        ints = IntStream(reader.int_array(), name=reader.name)
        if ints.int() != 1:
            ints.pos -= 1
            raise ints.fail(f"unsupported shape_predictor version {ints.int()} (expected 1)")
        initial = ints.float_matrix()
        if initial.shape[1] != 1 or initial.shape[0] % 2:
            raise ints.fail(f"bad initial shape {initial.shape}")
        cascades = [_read_forest(ints, initial.size) for _ in range(ints.length())]
        anchors = [ints.ints(ints.length()) for _ in range(ints.length())]
        deltas = [ints.floats(2 * ints.length()).reshape(-1, 2) for _ in range(ints.length())]
        if not ints.at_end:
            raise ints.fail("unexpected data after the shape predictor")
        if not len(cascades) == len(anchors) == len(deltas):
            raise ints.fail(f"{len(cascades)} forests but {len(anchors)} anchor lists")
        for (idx1, idx2, _, _), anchor, delta in zip(cascades, anchors, deltas):
            if len(anchor) != len(delta) or max(idx1.max(), idx2.max()) >= len(anchor):
                raise ints.fail("split features that index past the feature pixels")
            if anchor.max() >= initial.size // 2:
                raise ints.fail("feature anchors past the shape's points")
        return cls(initial.reshape(-1, 2), cascades, anchors, deltas)

    def __call__(self, image: np.ndarray, box) -> np.ndarray:
        """The landmarks of one face.

        Args:
            image: uint8 (H, W) grey or (H, W, 3) RGB.
            box: `(left, top, right, bottom)` of the face, as a `dlib.rectangle`.

        Returns:
            float64 (P, 2) `(x, y)` pixel coordinates; dlib rounds them to whole pixels.
        """
        return self.predict([image], [box])[0]

    def predict(self, images, boxes) -> np.ndarray:
        """The landmarks of many faces, one per image, in one vectorized pass.

        Args:
            images: uint8 (H, W) or (H, W, 3) arrays; the sizes may differ.
            boxes: one `(left, top, right, bottom)` per image.

        Returns:
            float64 (N, P, 2) `(x, y)` pixel coordinates.
        """
        grey = [intensity(check_image(image)) for image in images]
        boxes = np.array([as_box(box) for box in boxes], dtype=np.float64).reshape(-1, 4)
        if len(grey) != len(boxes) or not len(grey):
            raise ValueError(
                "predict needs one box per image and at least one image. "
                f"Received: {len(grey)} images and {len(boxes)} boxes"
            )
        n = len(grey)
        sizes = np.array([g.shape for g in grey])  # (N, 2): height, width
        canvas = np.zeros((n, *sizes.max(axis=0)), np.float32)
        for k, g in enumerate(grey):
            canvas[k, : g.shape[0], : g.shape[1]] = g
        origin, scale = boxes[:, None, :2], boxes[:, None, 2:] - boxes[:, None, :2]
        shape = np.repeat(self.initial_shape[None], n, axis=0)
        for forest, anchor, delta in zip(self.cascades, self.anchors, self.deltas):
            m, _ = similarity_transforms(self.initial_shape[None], shape)
            at = _apply(m.astype(np.float32), delta) + shape[:, anchor]  # float32, as dlib
            pixel = round_half_up(origin + scale * at.astype(np.float64)).astype(np.intp)
            shape = _run_forest(forest, _sample(canvas, sizes, pixel), shape)
        return round_half_up(origin + scale * shape.astype(np.float64))


def _sample(canvas: np.ndarray, sizes: np.ndarray, pixel: np.ndarray) -> np.ndarray:
    """The grey levels at integer `(x, y)` pixels (N, F, 2); 0 outside each image."""
    x, y = pixel[..., 0], pixel[..., 1]
    inside = (x >= 0) & (y >= 0) & (x < sizes[:, 1:]) & (y < sizes[:, :1])
    values = canvas[np.arange(len(canvas))[:, None], np.where(inside, y, 0), np.where(inside, x, 0)]
    return np.where(inside, values, np.float32(0))


def _run_forest(forest, features: np.ndarray, shape: np.ndarray) -> np.ndarray:
    """`shape` plus the leaves the features reach in every tree, added in tree order (float32).

    A split sends a face to the left child (2i + 1) when
    `features[idx1] - features[idx2] > thresh`, else to the right (2i + 2).
    """
    idx1, idx2, thresh, leaves = forest
    n, (num_trees, num_splits) = len(features), idx1.shape
    trees = np.arange(num_trees)[None]
    node = np.zeros((n, num_trees), dtype=np.intp)
    for _ in range(int(np.log2(num_splits + 1))):  # the trees are full: every path has this depth
        f1 = np.take_along_axis(features, idx1[trees, node], axis=1)
        f2 = np.take_along_axis(features, idx2[trees, node], axis=1)
        node = np.where(f1 - f2 > thresh[trees, node], 2 * node + 1, 2 * node + 2)
    values = leaves[trees, node - num_splits]  # (N, T, P * 2)
    terms = np.concatenate([shape.reshape(n, 1, -1), values], axis=1)
    return np.add.accumulate(terms, axis=1)[:, -1].reshape(shape.shape)


def _apply(m: np.ndarray, delta: np.ndarray) -> np.ndarray:
    """`m @ delta` per image and feature in float32, summed in dlib's order."""
    x = m[:, None, 0, 0] * delta[None, :, 0] + m[:, None, 0, 1] * delta[None, :, 1]
    y = m[:, None, 1, 0] * delta[None, :, 0] + m[:, None, 1, 1] * delta[None, :, 1]
    return np.stack([x, y], axis=-1)


def _read_forest(ints: IntStream, shape_size: int):
    """One cascade level: its trees' splits and leaves as stacked arrays."""
    idx1, idx2, thresh, leaves = [], [], [], []
    for _ in range(ints.length()):
        splits = ints.length()
        rows = ints.ints(4 * splits).reshape(splits, 4)  # idx1, idx2, thresh's two ints
        num_leaves = ints.length()
        if num_leaves != splits + 1 or num_leaves & (num_leaves - 1):
            raise ints.fail(f"a tree with {splits} splits and {num_leaves} leaves")
        block = ints.ints(num_leaves * (2 + 2 * shape_size)).reshape(num_leaves, -1)
        if (block[:, 0] != -shape_size).any() or (block[:, 1] != -1).any():
            raise ints.fail(f"leaf values that are not {shape_size}-vectors")
        pairs = block[:, 2:].reshape(num_leaves, shape_size, 2)
        idx1.append(rows[:, 0])
        idx2.append(rows[:, 1])
        thresh.append(float_details(rows[:, 2], rows[:, 3]))
        leaves.append(float_details(pairs[..., 0], pairs[..., 1]))
    if len({len(t) for t in idx1}) > 1:
        raise ints.fail("trees of different depths in one cascade level")
    return np.array(idx1), np.array(idx2), np.array(thresh), np.array(leaves)


def check_image(image) -> np.ndarray:
    """`image` if it is a uint8 (H, W) or (H, W, 3) array, else a ValueError naming the fix.

    Args:
        image: the array to check.
    """
    if not isinstance(image, np.ndarray):
        raise ValueError(f"A face image must be a NumPy array. Received: image={image!r:.80}")
    if image.dtype != np.uint8 or not (
        image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 3)
    ) or min(image.shape[:2]) == 0:
        raise ValueError(
            "A face image must be a non-empty uint8 (H, W) grey or (H, W, 3) RGB array; "
            "convert with `np.clip(x, 0, 255).astype(np.uint8)` or drop the alpha channel. "
            f"Received: shape={image.shape}, dtype={image.dtype}"
        )
    return image
