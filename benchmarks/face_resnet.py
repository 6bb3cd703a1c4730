"""face_resnet against dlib itself, measured in one run on ORL:

    python -m benchmarks.face_resnet

- the port: descriptors (Keras and ONNX) on dlib's own chips, landmarks on the
  same box, chips from the same landmarks;
- the frozen network on the unseen people s31-s40 and on the ORL 5/5 closed set,
  ours (NumPy alignment + ONNX, `zoo.runtime`) beside dlib's own pipeline
  (its landmarks, `get_face_chip`, `compute_face_descriptor`) on the same boxes;
- ONNX embed speed against `compute_face_descriptor` at batch 1 and 32.

dlib (the dlib-bin wheel, a dev dependency) is only imported here and in tests.
"""

import time

import dlib
import numpy as np

from benchmarks.common import markdown, verdict
from zoo.training.datasets import orl_five_five_split
from zoo.training.recipes import faces
from zoo import runtime
from zoo.evaluation import closed_set_top1
from zoo.faces import assets
from zoo.faces.align import framed_face_box
from zoo.faces.chips import extract_chip
from zoo.faces.landmarks import ShapePredictor
from zoo.faces.resnet_dat import FILE

CHIP, PADDING = 150, 0.25
HEADER = ("figure", "ours", "dlib", "target", "verdict")


class DlibPipeline:
    """dlib's own alignment and descriptors of raw faces, on the framed-face box."""

    def __init__(self):
        self.predictor = dlib.shape_predictor(assets.model_path("shape_predictor_5_face_landmarks.dat"))
        self.net = dlib.face_recognition_model_v1(assets.model_path(FILE))

    def shapes(self, images):
        return [self.predictor(_rgb(image), dlib.rectangle(*framed_face_box(*image.shape[:2])))
                for image in images]

    def chips(self, images):
        return np.stack([dlib.get_face_chip(_rgb(image), shape, size=CHIP, padding=PADDING)
                         for image, shape in zip(images, self.shapes(images))])

    def embed(self, images):
        return self.descriptors(self.chips(images))

    def descriptors(self, chips, batch=32):
        out = []
        for i in range(0, len(chips), batch):
            out += [np.array(d) for d in self.net.compute_face_descriptor(list(chips[i:i + batch]))]
        return np.stack(out).astype(np.float32)


def _rgb(image):
    return np.ascontiguousarray(np.repeat(image[..., None], 3, axis=-1)) if image.ndim == 2 else image


def port_rows(model, reference, images) -> list:
    """Our landmarks, chips and descriptors against dlib's, stage by stage."""
    shapes = reference.shapes(images)
    theirs = np.array([[(p.x, p.y) for p in shape.parts()] for shape in shapes], np.float64)
    boxes = [framed_face_box(*image.shape[:2]) for image in images]
    ours = ShapePredictor.from_dat().predict(images, boxes)
    landmark_px = float(np.linalg.norm(ours - theirs, axis=-1).mean())
    dlib_chips = reference.chips(images)
    our_chips = np.stack([extract_chip(_rgb(image), points, CHIP, PADDING)
                          for image, points in zip(images, theirs)])
    within = float(np.mean(np.abs(our_chips.astype(int) - dlib_chips.astype(int)) <= 2))
    descriptors = reference.descriptors(dlib_chips)
    error = float(np.abs(model.embed(dlib_chips, aligned=True) - descriptors).max())
    return [(f"descriptor max abs error, ONNX on dlib's chips ({len(images)} faces)", f"{error:.1e}",
             "-", "<= 1e-4", verdict(error, 1e-4, higher=False)),
            ("landmark mean error (px), same box", f"{landmark_px:.1e}", "-", "<= 0.5",
             verdict(landmark_px, 0.5, higher=False)),
            ("chip pixels within 2 grey levels, same landmarks", within, "-", ">= 0.99",
             verdict(within, 0.99))]


def accuracy_rows(model, reference) -> list:
    """The frozen network on s31-s40 and ORL 5/5, ours beside dlib's pipeline."""
    embedders = {"ours": lambda x: model.embed(x), "dlib": reference.embed}
    unseen = {k: faces.unseen_report(e, "euclidean", size=None)[0] for k, e in embedders.items()}
    x, y = faces.faces(size=None)
    train, test = orl_five_five_split(0)
    closed = {k: closed_set_top1(e(x[train]), y[train], e(x[test]), y[test], "euclidean")
              for k, e in embedders.items()}
    rows = []
    for key, label, target, higher in (
            ("verify_eer", "s31-s40 verification EER", 0.025, False),
            ("top1_enroll_1", "s31-s40 1-shot top-1", 0.98, True),
            ("open_set_dir_at_far_1e-2", "s31-s40 open-set DIR at FAR 1e-2", 0.98, True)):
        rows.append((label, unseen["ours"][key], unseen["dlib"][key],
                     f"{'<=' if not higher else '>='} {target}",
                     verdict(unseen["ours"][key], target, higher)))
    rows.append(("ORL 5/5 closed set top-1 (Lawrence 1997: 0.962)", closed["ours"], closed["dlib"],
                 ">= 0.995", verdict(closed["ours"], 0.995)))
    return rows


def speed_rows(model, reference, chips, repeats=3) -> list:
    """Images per second of ONNX `embed` and of `compute_face_descriptor`, same chips."""
    rows = []
    for batch in (1, 32):
        ours = _rate(lambda i: model.embed(chips[i:i + batch], aligned=True), len(chips), batch, repeats)
        theirs = _rate(lambda i: reference.descriptors(chips[i:i + batch], batch), len(chips), batch,
                       repeats)
        ratio = ours / theirs
        rows.append((f"embed speed-up over dlib, batch {batch} ({ours:.0f} vs {theirs:.0f} faces/s)",
                     ratio, 1.0, ">= 2x", verdict(ratio, 2.0)))
    return rows


def _rate(run, n, batch, repeats) -> float:
    run(0)  # warm-up
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        for i in range(0, n - batch + 1, batch):
            run(i)
        best = min(best, time.perf_counter() - start)
    return (n - n % batch) / best


def run(from_cards=False) -> str:
    """The face_resnet section of RESULTS.md (always measured: dlib runs beside it)."""
    model = runtime.load("face_resnet", intra_op_num_threads=2)
    reference = DlibPipeline()
    images, _ = faces.faces(size=None)
    chips = reference.chips(images[:64])
    rows = port_rows(model, reference, images) + accuracy_rows(model, reference) \
        + speed_rows(model, reference, chips)
    return ("### face_resnet against dlib (ORL 112x92, framed-face box; measured in one run)\n\n"
            + markdown(rows, HEADER) + "\n")


if __name__ == "__main__":
    print(run())
