"""Photos in, identities out: our pipeline beside dlib's on seeded ORL scenes.

    python -m benchmarks.face_photos

- detection recall and precision (IoU >= 0.5) on 640x480 scenes of 0-4 ORL faces
  (`zoo.training.datasets.face_scenes`: scale 0.5-3x, rotation +-20 deg, brightness,
  contrast, noise): ours (`face_detector` ONNX + NumPy decoding) beside dlib's MMOD
  (`cnn_face_detection_model_v1`) and HOG (`get_frontal_face_detector`), same run;
- end-to-end identification: one single-face scene per person enrolled, the others
  identified (closed set, nearest enrolled face), beside the same split on chips cut
  directly from the ORL frames (framed-face box, no detector);
- milliseconds per 640x480 photo with one face, detection to identity: ours
  (onnxruntime) beside dlib's pipeline (HOG, 5 points, ResNet descriptor).

dlib (the dlib-bin wheel, a dev dependency) is only imported here and in tests.
"""

import time

import dlib
import numpy as np

from benchmarks.common import markdown, verdict
from zoo.training.datasets.face_scenes import face_scene, face_scenes, match_counts
from zoo.training.datasets.orl_faces import load_orl_faces
from zoo.faces import assets
from zoo.faces.pipeline import FacePipeline

DETECTION_SCENES, SEED = 12, 2026
ID_IMAGES = 4  # per person: the first enrolled, the other three identified
SPEED_PHOTOS = 10


def _dlib_boxes(found):
    rects = [getattr(d, "rect", d) for d in found]
    return [(r.left(), r.top(), r.right(), r.bottom()) for r in rects]


def detection_rows(pipeline):
    """Recall, precision and ms per scene of each detector at upsample 0 and 1."""
    scenes = face_scenes(DETECTION_SCENES, seed=SEED)
    mmod = dlib.cnn_face_detection_model_v1(assets.model_path("mmod_human_face_detector.dat"))
    hog = dlib.get_frontal_face_detector()
    detectors = {
        "ours (face_detector ONNX)": lambda image, up: [d.box for d in pipeline.detector.detect(image, up)],
        "dlib MMOD CNN": lambda image, up: _dlib_boxes(mmod(image, up)),
        "dlib HOG": lambda image, up: _dlib_boxes(hog(image, up)),
    }
    rows = []
    total = sum(len(s.boxes) for s in scenes)
    for upsample in (0, 1):
        for name, detect in detectors.items():
            tp = fp = 0
            seconds = []
            for scene in scenes:
                image = np.ascontiguousarray(scene.image)
                start = time.perf_counter()
                found = detect(image, upsample)
                seconds.append(time.perf_counter() - start)
                hit, miss = match_counts(found, scene.boxes)
                tp, fp = tp + hit, fp + miss
            rows.append((name, upsample, f"{tp / total:.3f}", f"{tp / max(tp + fp, 1):.3f}",
                         f"{np.median(seconds) * 1e3:.0f}"))
    return rows, total, len(scenes)


def identification_rows(pipeline):
    """Top-1 from scenes (enroll one per person) vs chips cut from the ORL frames."""
    faces, labels = load_orl_faces()
    rng = np.random.default_rng(SEED + 1)
    picks = [np.flatnonzero(labels == p)[:ID_IMAGES] for p in range(40)]
    enrolled, queries = [], []
    found_all = missed = 0
    for person, index in enumerate(picks):
        for j, k in enumerate(index):
            scene = face_scene(faces, labels, rng, shape=(240, 320), count=1, scale=(0.7, 1.8),
                               pool=[k])
            try:
                (face,) = pipeline.faces(scene.image, name=f"scene of ORL {k}")
                emb = face.embedding
                found_all += 1
            except ValueError:
                emb, missed = None, missed + 1
            (enrolled if j == 0 else queries).append((person, emb))
    direct = pipeline.embedder.embed(faces[np.concatenate(picks)])  # framed-face box, no detector
    direct = direct.reshape(40, ID_IMAGES, -1)
    scene_top1 = _top1(enrolled, queries)
    chip_top1 = _top1([(p, direct[p, 0]) for p in range(40)],
                      [(p, direct[p, j]) for p in range(40) for j in range(1, ID_IMAGES)])
    return [("from scenes (detect, align, embed)", f"{scene_top1:.4f}",
             f"{found_all} of {40 * ID_IMAGES} scenes gave a face"),
            ("from ORL frames (framed-face box)", f"{chip_top1:.4f}", "no detector")], scene_top1 - chip_top1


def _top1(enrolled, queries):
    """Closed-set top-1 (euclidean); a missing embedding on either side is an error."""
    people = [p for p, e in enrolled if e is not None]
    gallery = np.stack([e for _, e in enrolled if e is not None])
    right = 0
    for person, emb in queries:
        if emb is None:
            continue
        right += people[int(np.argmin(np.linalg.norm(gallery - emb, axis=1)))] == person
    return right / len(queries)


class DlibPipeline:
    """dlib's own photo pipeline: HOG detector, 5 points, ResNet descriptor, 1-NN."""

    def __init__(self, upsample=0):
        self.detector = dlib.get_frontal_face_detector()
        self.predictor = dlib.shape_predictor(assets.model_path("shape_predictor_5_face_landmarks.dat"))
        self.net = dlib.face_recognition_model_v1(
            assets.model_path("dlib_face_recognition_resnet_model_v1.dat"))
        self.upsample = upsample

    def identify(self, image, gallery):
        rgb = image if image.ndim == 3 else np.repeat(image[..., None], 3, axis=2)
        rgb = np.ascontiguousarray(rgb)
        rects = self.detector(rgb, self.upsample)
        if not len(rects):
            return None
        rect = max(rects, key=lambda r: r.area())
        shape = self.predictor(rgb, rect)
        emb = np.asarray(self.net.compute_face_descriptor(rgb, shape))
        return int(np.argmin(np.linalg.norm(gallery - emb, axis=1)))


def speed_rows(pipeline):
    """Median ms per 640x480 one-face photo, detection to identity, ours and dlib's."""
    faces, labels = load_orl_faces()
    rng = np.random.default_rng(SEED + 2)
    photos = [face_scene(faces, labels, rng, count=1, scale=(1.2, 2.5)).image
              for _ in range(SPEED_PHOTOS)]
    gallery = np.random.default_rng(0).normal(size=(40, 128)).astype(np.float32)
    fast = FacePipeline(embedder=pipeline.embedder, detector=pipeline.detector_model, min_face=96)
    ours, quick, theirs, dl = [], [], [], DlibPipeline(upsample=0)
    found = [0, 0, 0]
    for image in photos:
        start = time.perf_counter()
        try:
            (face,) = fast.faces(image)
            np.argmin(np.linalg.norm(gallery - face.embedding, axis=1))
            found[2] += 1
        except ValueError:
            pass
        quick.append(time.perf_counter() - start)
        start = time.perf_counter()
        try:
            (face,) = pipeline.faces(image)
            np.argmin(np.linalg.norm(gallery - face.embedding, axis=1))
            found[0] += 1
        except ValueError:
            pass
        ours.append(time.perf_counter() - start)
        start = time.perf_counter()
        found[1] += dl.identify(image, gallery) is not None
        theirs.append(time.perf_counter() - start)
    return [("ours: face_detector + landmarks + face_resnet (onnxruntime)",
             f"{np.median(ours) * 1e3:.0f}", f"{found[0]} of {len(photos)}"),
            ("ours, min_face=96 (detects on the photo downscaled by 80/96)",
             f"{np.median(quick) * 1e3:.0f}", f"{found[2]} of {len(photos)}"),
            ("dlib: HOG (upsample 0) + 5 points + ResNet", f"{np.median(theirs) * 1e3:.0f}",
             f"{found[1]} of {len(photos)}")]


def run(from_cards=False, show=print) -> str:
    """Every section, each passed to `show` as soon as it is measured; returns the report.

    Args:
        from_cards: unused (always measured: dlib runs beside it); accepted like every section.
        show: called with each part as soon as it is measured.
    """
    parts = ["### Faces from photos (`python -m benchmarks.face_photos`)"]

    def emit(*texts):
        parts.extend(texts)
        show("\n\n".join(texts) + "\n")

    pipeline = FacePipeline()
    pipeline.faces(face_scenes(1, seed=0, count=1, scale=(1.5, 1.5))[0].image)  # warm up
    det, total, scenes = detection_rows(pipeline)
    emit(f"Detection on {scenes} seeded 640x480 scenes ({total} ORL faces, scale 0.5-3x, "
         "rotation +-20 deg), IoU >= 0.5:",
         markdown(det, ("detector", "upsample", "recall", "precision", "ms per scene (median)")))
    speed = speed_rows(pipeline)
    emit(f"Detection to identity, {SPEED_PHOTOS} 640x480 photos with one face (scale 1.2-2.5x):",
         markdown(speed, ("pipeline", "ms per photo (median)", "faces found")))
    ident, gap = identification_rows(pipeline)
    emit(f"Identification, 40 people, {ID_IMAGES} ORL images each: the first enrolled, "
         f"{ID_IMAGES - 1} identified (closed-set top-1, euclidean 1-NN); scenes 320x240, "
         "scale 0.7-1.8x, pipeline upsample auto:",
         markdown(ident, ("queries", "top-1", "note")),
         f"scenes minus frames: {gap * 100:+.1f} pt (target: within 1 pt)")
    ours_ms, dlib_ms = float(speed[0][1]), float(speed[2][1])
    emit("Targets:", markdown(
        [("identification from scenes minus from ORL frames (pt)", f"{gap * 100:+.1f}", ">= -1.0",
          verdict(gap * 100, -1.0)),
         ("ms per 640x480 photo, detection to identity, ours vs dlib HOG pipeline",
          f"{ours_ms:.0f} vs {dlib_ms:.0f}", "faster than dlib", verdict(dlib_ms / ours_ms, 1.0))],
        ("figure", "measured", "target", "verdict")))
    return "\n\n".join(parts)


if __name__ == "__main__":
    run(lambda text: print(text, flush=True))
