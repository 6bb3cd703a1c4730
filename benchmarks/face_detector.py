"""Our face detector (ONNX score map + NumPy decoding) against dlib's CNN detector.

    python -m benchmarks.face_detector

Builds 640x480 scenes of ORL faces pasted at scales 1x-3x on a noisy background
(grey and RGB, fixed seed), plus raw ORL faces with upsampling 1, runs
`zoo.faces.detector.FaceDetector` on an onnxruntime session of
`zoo.models.face_detector` and dlib's `cnn_face_detection_model_v1`, and prints the
count agreement, the IoU of matched boxes, the confidence differences and the time
per 640x480 image of each.
"""

from zoo import backend  # noqa: F401

import time

import numpy as np

import dlib
from zoo.training.datasets.face_scenes import box_iou
from zoo.training.datasets.orl_faces import load_orl_faces
from zoo.faces.assets import model_path
from zoo.faces.detector import FaceDetector, onnx_score_fn
from zoo.faces.pyramid import resize_bilinear

SCENES = 6
ORL_IMAGES = 40


def orl_scene(faces: np.ndarray, rng: np.random.Generator, shape=(480, 640), scales=(1, 2, 3),
              rgb: bool = False) -> np.ndarray:
    """A uint8 scene: ORL `faces` pasted, one per scale, on a noisy flat background.

    Faces are placed left to right, side by side, so that they do not overlap.

    Args:
        faces: uint8 [n, 112, 92] grey faces to draw from.
        rng: the random generator (fixes faces, places and colours).
        shape: (rows, cols) of the scene.
        scales: the upscaling factor of each pasted face.
        rgb: tint the scene into an RGB image.
    """
    rows, cols = shape
    widths = [92 * scale for scale in scales]
    slack = cols - sum(widths)
    if slack < 0 or 112 * max(scales) > rows:
        raise ValueError(f"Faces at scales {scales!r} do not fit side by side in a {shape} scene. "
                         "Use fewer or smaller scales, or a larger shape.")
    scene = rng.integers(60, 200) + rng.integers(0, 24, size=shape)
    x = 0
    for scale, w in zip(scales, widths):
        face = faces[rng.integers(len(faces))].astype(np.float32)
        h = 112 * scale
        face = resize_bilinear(face[..., None], h, w)[..., 0] if scale != 1 else face
        x += int(rng.integers(0, slack // len(scales) + 1))
        y = int(rng.integers(0, rows - h + 1))
        scene[y : y + h, x : x + w] = face
        x += w
    scene = np.clip(scene, 0, 255).astype(np.uint8)
    if rgb:
        tint = rng.uniform(0.8, 1.1, size=3)
        scene = np.clip(scene[..., None] * tint, 0, 255).astype(np.uint8)
    return scene


def dlib_detections(detector, image, upsample):
    """dlib's detections as [(box, confidence)]."""
    return [((d.rect.left(), d.rect.top(), d.rect.right(), d.rect.bottom()), d.confidence)
            for d in detector(image, upsample)]


def match(ours, theirs):
    """For each of dlib's boxes the best IoU among ours and that box's |confidence diff|."""
    out = []
    for box, conf in theirs:
        if not ours:
            out.append((0.0, np.inf))
            continue
        best = max(ours, key=lambda d: box_iou(d.box, box))
        out.append((box_iou(best.box, box), abs(best.confidence - conf)))
    return out


def _onnx_session():
    import onnxruntime as ort
    import tensorflow as tf
    import tf2onnx

    from zoo.models.face_detector import build_face_detector

    model = build_face_detector()
    fn = tf.function(lambda image: model(image, training=False),
                     input_signature=[tf.TensorSpec((None, None, None, 3), tf.float32, name="image")])
    proto, _ = tf2onnx.convert.from_function(fn, input_signature=fn.input_signature, opset=17)
    return ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])


def main():
    faces, _ = load_orl_faces()
    rng = np.random.default_rng(0)
    ours = FaceDetector(onnx_score_fn(_onnx_session()))
    dlib_cnn = dlib.cnn_face_detection_model_v1(model_path("mmod_human_face_detector.dat"))
    cases = [(orl_scene(faces, rng, rgb=k % 2 == 1), 0) for k in range(SCENES)]
    cases += [(faces[k], 1) for k in np.linspace(0, len(faces) - 1, ORL_IMAGES).astype(int)]
    same_count, pairs, times = 0, [], {"ours": [], "dlib": []}
    for image, upsample in cases:
        start = time.perf_counter()
        mine = ours.detect(image, upsample)
        middle = time.perf_counter()
        theirs = dlib_detections(dlib_cnn, image, upsample)
        end = time.perf_counter()
        if image.shape[:2] == (480, 640):
            times["ours"].append(middle - start)
            times["dlib"].append(end - middle)
        same_count += len(mine) == len(theirs)
        pairs += match(mine, theirs)
    ious, diffs = np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])
    print(f"{len(cases)} images ({SCENES} scenes 640x480, {ORL_IMAGES} ORL faces upsampled once), "
          f"{len(pairs)} dlib faces")
    print(f"same face count: {same_count} of {len(cases)}")
    print(f"IoU: min {ious.min():.4f}, median {np.median(ious):.4f}, >= 0.9 for {np.mean(ious >= 0.9):.1%}, "
          f"== 1 for {np.mean(ious == 1):.1%}")
    print(f"|confidence diff|: max {diffs.max():.2e}, median {np.median(diffs):.2e}")
    print(f"per 640x480 image: ours (onnxruntime) {np.median(times['ours']) * 1e3:.0f} ms, "
          f"dlib {np.median(times['dlib']) * 1e3:.0f} ms (median of {len(times['ours'])})")


if __name__ == "__main__":
    main()
