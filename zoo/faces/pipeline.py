"""Photos in, identities out: detect, 5-point landmarks, 150x150 chips, embeddings.

Runs on NumPy + onnxruntime only (no TensorFlow, no dlib):

    from zoo.faces.pipeline import FacePipeline

    pipeline = FacePipeline()                       # face_detector + face_resnet
    face = pipeline.faces("photo.jpg")[0]           # the largest face
    face.box, face.confidence, face.landmarks, face.embedding
    every = pipeline.faces("group.png", all_faces=True)   # largest first

The detector is `face_detector` (dlib's MMOD CNN, `zoo.faces.detector`), the
embedder is `face_resnet`'s `embed` graph (its card's `align` step gives the chip
size and padding). A photo larger than `max_side` is downscaled for detection
only; its boxes are mapped back, and landmarks and chips are taken at full size.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from zoo.faces.detector import FaceDetector

WINDOW = 80  # the detector's window side in pixels: its smallest face at upsample=0


class NoFaceError(ValueError):
    """No face was found in a photo."""


class FaceTooSmallError(NoFaceError):
    """The photo is smaller than the detector's smallest face, even upsampled."""


class ManyFacesWarning(UserWarning):
    """Several faces were found where one was expected; the largest is used."""


@dataclass(frozen=True)
class Face:
    """One face of a photo.

    Attributes:
        box: (left, top, right, bottom), inclusive, in the photo's pixels.
        confidence: the detector's score (> 0; higher is surer).
        landmarks: float64 (5, 2) `(x, y)` dlib 5-point landmarks in the photo.
        embedding: the (D,) embedding, or None when not embedded.
        chip: the uint8 aligned chip (S, S, 3), or None.
    """

    box: tuple
    confidence: float
    landmarks: np.ndarray = field(repr=False)
    embedding: np.ndarray | None = field(default=None, repr=False)
    chip: np.ndarray | None = field(default=None, repr=False)

    @property
    def area(self) -> int:
        """The box's area in pixels."""
        return (self.box[2] - self.box[0] + 1) * (self.box[3] - self.box[1] + 1)


class FacePipeline:
    """Detector + landmarks + chips + embedder, ONNX only.

    Args:
        embedder: a `RuntimeModel`, registry name or artifact folder with an `embed`
            graph and an `align` step in its card (default "face_resnet"), or None
            to only detect and take landmarks.
        detector: a `RuntimeModel`, registry name or artifact folder of the
            `score_map` graph (default "face_detector").
        upsample: times the photo is doubled before detection: 0 finds faces of
            80x80 pixels and up, 1 of 40x40 and up (4x slower). "auto" tries 0,
            then 1 when nothing was found and the photo is at most `max_side` / 2.
        max_side: photos whose longer side exceeds it are downscaled to it for
            detection.
        min_face: None (default) detects at full size. A side in pixels >= 80: the
            smallest face wanted; photos are downscaled for detection by 80 / min_face
            (e.g. 160: 4x fewer pixels to score, faces under about 160x160 missed).
        intra_op_num_threads: onnxruntime threads per operator; None lets it decide.
    """

    def __init__(self, embedder="face_resnet", detector="face_detector", upsample="auto",
                 max_side: int = 1280, min_face: int | None = None, intra_op_num_threads=None):
        if upsample != "auto" and (isinstance(upsample, bool) or not isinstance(upsample, int)
                                   or not 0 <= upsample <= 2):
            raise ValueError(f"upsample must be 0, 1, 2 or 'auto'. Received: upsample={upsample!r}")
        if isinstance(max_side, bool) or not isinstance(max_side, int) or max_side < WINDOW:
            raise ValueError(f"max_side must be an int >= {WINDOW}. Received: max_side={max_side!r}")
        if min_face is not None and (isinstance(min_face, bool) or not isinstance(min_face, int)
                                     or min_face < WINDOW):
            raise ValueError(f"min_face must be None or an int >= {WINDOW} (the detector's window). "
                             f"Received: min_face={min_face!r}")
        self.upsample, self.max_side, self.min_face = upsample, max_side, min_face
        self.detector_model = _runtime(detector, intra_op_num_threads)
        if "score_map" not in self.detector_model.graphs:
            raise ValueError(f"The detector needs a 'score_map' graph; {self.detector_model.name!r} "
                             f"has {list(self.detector_model.graphs)}. Pass detector='face_detector'.")
        self.detector = FaceDetector(self._score)
        self.embedder = None if embedder is None else _runtime(embedder, intra_op_num_threads)
        if self.embedder is not None and not self.embedder.card["preprocess"].get("align"):
            raise ValueError(f"{self.embedder.name!r} takes no aligned chips (its card has no align "
                             "step), so photos cannot feed it. Pass embedder='face_resnet'.")

    def _score(self, tile):
        return self.detector_model.run("score_map", image=tile)["score_map"]

    # -- detection ------------------------------------------------------------------
    def detect(self, image, name="image") -> list[Face]:
        """Every face of a uint8 photo with its landmarks, largest first (not embedded).

        Args:
            image: uint8 (H, W) grey or (H, W, 3) RGB.
            name: the photo's name in errors.

        Raises:
            FaceTooSmallError: the photo cannot hold one detector window.
        """
        image = _check_image(image, name)
        shrink = 1.0 if self.min_face is None else WINDOW / self.min_face
        scale, small = _downscale(image, self.max_side, shrink)
        tries = [0, 1] if self.upsample == "auto" else [self.upsample]
        if self.upsample == "auto" and max(small.shape[:2]) * 2 > self.max_side:
            tries = [0]
        biggest = max(tries)
        if min(small.shape[:2]) * 2 ** biggest < WINDOW:
            raise FaceTooSmallError(
                f"{name} is {image.shape[1]}x{image.shape[0]} pixels; the detector's smallest face "
                f"is its {WINDOW}x{WINDOW} window ({WINDOW // 2 ** biggest}x{WINDOW // 2 ** biggest} "
                f"with upsample={biggest}). Pass a larger photo or FacePipeline(upsample=2). "
                f"Received: shape={image.shape}")
        found = []
        for upsample in tries:
            found = self.detector.detect(small, upsample)
            if found:
                break
        boxes = [tuple(int(round(v / scale)) for v in d.box) for d in found]
        if not boxes:
            return []
        points = _predictor().predict([image] * len(boxes), boxes)
        faces = [Face(box, d.confidence, p) for box, d, p in zip(boxes, found, points)]
        return sorted(faces, key=lambda f: (-f.area, -f.confidence))

    # -- the whole pipeline ---------------------------------------------------------
    def faces(self, photo, all_faces: bool = False, name=None) -> list[Face]:
        """The embedded faces of a photo: the largest one, or every one largest first.

        Args:
            photo: an image file path (PNG, JPEG with EXIF orientation, grey, RGB,
                RGBA, palette, 16-bit; see `zoo.retrieval.read_images`) or a uint8
                (H, W) / (H, W, 3) array.
            all_faces: keep every face (largest first) instead of the largest only.
            name: the photo's name in errors (default: its path, or "image").

        Raises:
            NoFaceError: no face was found (the error names the photo).
            FaceTooSmallError: the photo is smaller than the smallest face.
            ValueError: an unreadable, truncated or missing file (named).

        Warns:
            ManyFacesWarning: several faces and `all_faces=False`; the largest is used.
        """
        image, name = read_photo(photo, name)
        faces = self.detect(image, name)
        if not faces:
            side = self.min_face or WINDOW
            minimum = side // 2 if self.upsample == "auto" else side // 2 ** self.upsample
            raise NoFaceError(
                f"No face found in {name}. The detector finds upright faces of about "
                f"{minimum}x{minimum} pixels and larger; pass a photo with a visible face, or "
                "FacePipeline(upsample=2) for smaller ones.")
        if len(faces) > 1 and not all_faces:
            warnings.warn(f"{name}: {len(faces)} faces found where one was expected; using the "
                          "largest. Pass all_faces=True (CLI --all) to keep every face.",
                          ManyFacesWarning, stacklevel=2)
            faces = faces[:1]
        return self.embed_faces(image, faces)

    def embed_faces(self, image, faces: list[Face]) -> list[Face]:
        """`faces` of `image` with their chips and embeddings.

        Args:
            image: the uint8 photo the faces were detected in.
            faces: from `detect`.
        """
        if self.embedder is None or not faces:
            return faces
        from zoo.faces.chips import extract_chip

        align = self.embedder.card["preprocess"]["align"]
        chips = np.stack([extract_chip(image, f.landmarks, int(align["size"]), float(align["padding"]))
                          for f in faces])
        embeddings = self.embedder.embed(chips, aligned=True)
        return [Face(f.box, f.confidence, f.landmarks, e, c)
                for f, e, c in zip(faces, embeddings, chips)]


def read_photo(photo, name=None) -> tuple[np.ndarray, str]:
    """(uint8 RGB or grey image, its name) of a path or an array.

    Args:
        photo: a file path, or a uint8 (H, W) / (H, W, 3) array.
        name: the name used in errors; default the path, or "image".
    """
    if isinstance(photo, np.ndarray):
        return _check_image(photo, name or "image"), name or "image"
    from pathlib import Path

    from zoo.retrieval import read_images

    path = Path(photo)
    name = name or str(path)
    if path.is_dir():
        raise ValueError(f"{name} is a directory, not an image file. Pass the photos inside "
                         f"it, e.g. {name}/*.jpg. Received: photo={name!r}")
    image = read_images(path, channels=3)
    if path.suffix.lower() == ".npy":
        image = np.asarray(image)
        if image.dtype != np.uint8:
            image = np.clip(np.rint(np.asarray(image, np.float64) * 255), 0, 255).astype(np.uint8)
    return _check_image(image, name), name


def _check_image(image, name) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[2] == 4:
        image = image[..., :3]
    if image.dtype != np.uint8 or not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 3)):
        raise ValueError(f"{name} must be one uint8 (H, W) grey or (H, W, 3) RGB photo. "
                         f"Received: dtype={image.dtype}, shape={image.shape}")
    if min(image.shape[:2]) == 0:
        raise ValueError(f"{name} is empty. Received: shape={image.shape}")
    return image


def _downscale(image, max_side, shrink=1.0) -> tuple[float, np.ndarray]:
    """(scale, image) with the longer side at most `max_side` and at most `shrink`
    times its own (area-averaged)."""
    rows, cols = image.shape[:2]
    scale = min(shrink, max_side / max(rows, cols))
    if scale >= 1.0:
        return 1.0, image
    size = (max(1, round(cols * scale)), max(1, round(rows * scale)))
    from PIL import Image  # read_images needs Pillow too

    return scale, np.asarray(Image.fromarray(image).resize(size, Image.BOX))


def _predictor():
    from zoo.faces.align import default_predictor

    return default_predictor()


def _runtime(model, threads):
    from zoo import runtime

    if hasattr(model, "run") and hasattr(model, "card"):
        return model
    return runtime.load(model, intra_op_num_threads=threads)
