"""Synthetic photos for the face detector and pipeline: ORL faces pasted into scenes.

Each scene is a noisy, shaded background with 0 to 4 ORL faces, each at a random
position, scale and rotation, then a global brightness / contrast change and noise.
Everything follows one seed, so the tests and `benchmarks.face_photos` see the
same photos. The ground truth of a face is its ORL framed-face box
(`zoo.faces.align.FRAMED_FACE_BOX`, dlib's mean detection on ORL) scaled, rotated
about the face centre and kept upright at its scaled size.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from zoo.faces.align import framed_face_box


@dataclass(frozen=True)
class Scene:
    """One synthetic photo.

    Attributes:
        image: uint8 [rows, cols] grey or [rows, cols, 3] RGB.
        boxes: one inclusive (left, top, right, bottom) face box per pasted face.
        people: the ORL subject id (0..39) of each face.
        faces: the ORL image index of each face.
        scales: the scale of each face.
    """

    image: np.ndarray
    boxes: list
    people: list
    faces: list
    scales: list


def paste_face(canvas: np.ndarray, face: np.ndarray, centre, scale: float, angle: float):
    """Paste a grey uint8 `face`, scaled and rotated, centred on `centre` of float `canvas`.

    Args:
        canvas: float32 [rows, cols] scene, changed in place.
        face: uint8 [h, w] face.
        centre: (x, y) of the face's centre in the canvas.
        scale: size factor.
        angle: rotation in degrees, counter-clockwise.

    Returns:
        The face's ground-truth box in the canvas.
    """
    from PIL import Image

    h, w = face.shape
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    img = Image.fromarray(face).resize(size, Image.BILINEAR)
    mask = Image.new("L", size, 255)
    img = img.rotate(angle, Image.BILINEAR, expand=True)
    mask = mask.rotate(angle, Image.BILINEAR, expand=True)
    pixels, alpha = np.asarray(img, np.float32), np.asarray(mask, np.float32) / 255
    top, left = round(centre[1] - pixels.shape[0] / 2), round(centre[0] - pixels.shape[1] / 2)
    rows, cols = canvas.shape
    y0, x0 = max(top, 0), max(left, 0)
    y1, x1 = min(top + pixels.shape[0], rows), min(left + pixels.shape[1], cols)
    if y1 > y0 and x1 > x0:
        p = pixels[y0 - top:y1 - top, x0 - left:x1 - left]
        a = alpha[y0 - top:y1 - top, x0 - left:x1 - left]
        canvas[y0:y1, x0:x1] = a * p + (1 - a) * canvas[y0:y1, x0:x1]
    # the framed-face box, rotated about the face centre, kept upright at its size
    box = np.array(framed_face_box(h, w), np.float64)
    bx, by = (box[0] + box[2]) / 2 - (w - 1) / 2, (box[1] + box[3]) / 2 - (h - 1) / 2
    t = np.deg2rad(angle)
    dx = scale * (bx * np.cos(t) + by * np.sin(t))  # PIL rotates counter-clockwise on screen
    dy = scale * (-bx * np.sin(t) + by * np.cos(t))
    half_w, half_h = scale * (box[2] - box[0]) / 2, scale * (box[3] - box[1]) / 2
    cx, cy = centre[0] + dx, centre[1] + dy
    return (round(cx - half_w), round(cy - half_h), round(cx + half_w), round(cy + half_h))


def face_scene(faces: np.ndarray, labels: np.ndarray, rng: np.random.Generator,
               shape=(480, 640), count=None, scale=(0.5, 3.0), angle=20.0,
               rgb=None, pool=None) -> Scene:
    """One scene of ORL faces that do not overlap.

    Args:
        faces: uint8 [n, 112, 92] ORL faces.
        labels: their subject ids [n].
        rng: the random generator (fixes everything drawn).
        shape: (rows, cols) of the scene.
        count: faces to paste; default a draw from 0..4. Fewer are pasted when
            no free place is found after a few tries.
        scale: (low, high) of the uniform scale draw.
        angle: rotations are uniform in [-angle, angle] degrees.
        rgb: make an RGB scene (a tinted grey one); default a coin flip.
        pool: indices of `faces` to draw from; default all.
    """
    rows, cols = shape
    count = int(rng.integers(0, 5)) if count is None else int(count)
    rgb = bool(rng.integers(2)) if rgb is None else rgb
    pool = np.arange(len(faces)) if pool is None else np.asarray(pool)
    yy, xx = np.mgrid[0:rows, 0:cols].astype(np.float32)
    g = rng.uniform(-40, 40, size=2)
    canvas = (rng.uniform(60, 190) + g[0] * (xx / cols - 0.5) + g[1] * (yy / rows - 0.5)
              + rng.normal(0, 10, size=shape)).astype(np.float32)
    boxes, people, picked, scales, taken = [], [], [], [], []
    for _ in range(count):
        for _try in range(30):
            s = float(rng.uniform(*scale))
            h, w = 112 * s, 92 * s
            if h >= rows or w >= cols:
                continue
            cx, cy = rng.uniform(w / 2, cols - w / 2), rng.uniform(h / 2, rows - h / 2)
            span = (cx - w / 2 - 4, cy - h / 2 - 4, cx + w / 2 + 4, cy + h / 2 + 4)
            if not any(_intersects(span, t) for t in taken):
                break
        else:
            continue
        k = int(pool[rng.integers(len(pool))])
        boxes.append(paste_face(canvas, faces[k], (cx, cy), s, float(rng.uniform(-angle, angle))))
        taken.append(span)
        people.append(int(labels[k]))
        picked.append(k)
        scales.append(s)
    contrast, brightness = rng.uniform(0.7, 1.3), rng.uniform(-30, 30)
    canvas = (canvas - canvas.mean()) * contrast + canvas.mean() + brightness
    canvas += rng.normal(0, rng.uniform(0, 8), size=shape)
    if rgb:
        canvas = canvas[..., None] * rng.uniform(0.8, 1.1, size=3).astype(np.float32)
    image = np.clip(np.rint(canvas), 0, 255).astype(np.uint8)
    return Scene(image, boxes, people, picked, scales)


def face_scenes(n: int, seed: int = 0, **kwargs) -> list[Scene]:
    """`n` scenes from one seed (see `face_scene` for `kwargs`)."""
    from zoo.training.datasets.orl_faces import load_orl_faces

    faces, labels = load_orl_faces()
    rng = np.random.default_rng(seed)
    return [face_scene(faces, labels, rng, **kwargs) for _ in range(n)]


def _intersects(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def box_iou(a, b) -> float:
    """IoU of two inclusive (left, top, right, bottom) boxes."""
    w = min(a[2], b[2]) - max(a[0], b[0]) + 1
    h = min(a[3], b[3]) - max(a[1], b[1]) + 1
    inner = max(w, 0) * max(h, 0)
    area_a = (a[2] - a[0] + 1) * (a[3] - a[1] + 1)
    area_b = (b[2] - b[0] + 1) * (b[3] - b[1] + 1)
    return inner / (area_a + area_b - inner)


def match_counts(found, truth, iou=0.5) -> tuple[int, int]:
    """(true positives, false positives) of `found` boxes against `truth` boxes.

    Greedy one-to-one matching, best IoU first; a match needs IoU >= `iou`.

    Args:
        found: detected boxes.
        truth: ground-truth boxes.
        iou: the IoU a match needs.
    """
    pairs = sorted(((box_iou(f, t), i, j) for i, f in enumerate(found) for j, t in enumerate(truth)),
                   reverse=True)
    used_f, used_t = set(), set()
    for value, i, j in pairs:
        if value < iou:
            break
        if i not in used_f and j not in used_t:
            used_f.add(i)
            used_t.add(j)
    return len(used_f), len(found) - len(used_f)


def detector_tiles(n: int = 2, shape=(120, 120), seed: int = 0) -> np.ndarray:
    """float32 [n, H, W, 3] tiled pyramids of small scenes (one face, then none, ...).

    The real inputs of the `score_map` graph (parity and test data): what
    `zoo.faces.detector.FaceDetector` feeds the network.

    Args:
        n: how many scenes; even ones hold one face at scale 1, odd ones none.
        shape: (rows, cols) of each scene; every tile then has one size.
        seed: the scenes' seed.
    """
    from zoo.training.datasets.orl_faces import load_orl_faces
    from zoo.faces.detector import FaceDetector

    faces, labels = load_orl_faces()
    rng = np.random.default_rng(seed)
    tiler = FaceDetector(score_fn=None)
    scenes = [face_scene(faces, labels, rng, shape=shape, count=1 - k % 2, scale=(1.0, 1.0),
                         angle=5.0, rgb=k % 4 == 2).image for k in range(n)]
    return np.stack([tiler.tile(scene)[0] for scene in scenes])
