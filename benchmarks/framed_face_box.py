"""Measure `zoo.faces.align.FRAMED_FACE_BOX`: the mean dlib CNN face box on ORL.

    python -m benchmarks.framed_face_box

Runs dlib's `cnn_face_detection_model_v1` (mmod_human_face_detector.dat,
upsampling 1) on the 400 ORL faces (about 3 minutes on 2 cores), keeps the most
confident box per image and prints the mean box as fractions of the image's
width and height. Then it prints how far our landmarks on the framed box are
from dlib's landmarks on dlib's own boxes (informational). Last run (dlib-bin
20.0.1): a face in 400 of 400, mean box 0.0359, 0.2115, 0.8627, 0.8884; ours vs
dlib on dlib's boxes 0.0000 px; ours on the framed box vs dlib on its boxes 0.313 px.
"""

import numpy as np

import dlib
from zoo.training.datasets.orl_faces import load_orl_faces
from zoo.faces.align import framed_face_box
from zoo.faces.assets import model_path
from zoo.faces.landmarks import ShapePredictor

UPSAMPLE = 1


def main():
    images, _ = load_orl_faces()
    height, width = images.shape[1:]
    detector = dlib.cnn_face_detection_model_v1(model_path("mmod_human_face_detector.dat"))
    reference = dlib.shape_predictor(model_path("shape_predictor_5_face_landmarks.dat"))
    found, boxes = [], []
    for k, image in enumerate(images):
        detections = detector(image, UPSAMPLE)
        if detections:
            best = max(detections, key=lambda d: d.confidence).rect
            found.append(k)
            boxes.append((best.left(), best.top(), best.right(), best.bottom()))
    boxes = np.array(boxes, dtype=np.float64)
    fractions = boxes.mean(axis=0) / [width, height, width, height]
    print(f"dlib CNN detector, upsample {UPSAMPLE}: a face in {len(found)} of {len(images)}")
    print("mean box (left, top, right, bottom) / (W, H, W, H): "
          + ", ".join(f"{f:.4f}" for f in fractions))
    print(f"spread (std, px): {', '.join(f'{s:.2f}' for s in boxes.std(axis=0))}")

    predictor = ShapePredictor.from_dat()
    framed = framed_face_box(height, width)
    theirs = np.array([[(p.x, p.y) for p in reference(images[k], dlib.rectangle(*map(int, box))).parts()]
                       for k, box in zip(found, boxes)], dtype=np.float64)
    ours_dlib_box = predictor.predict(images[found], boxes)
    ours_framed = predictor.predict(images[found], [framed] * len(found))
    print(f"ours vs dlib, both on dlib's boxes: "
          f"{np.linalg.norm(ours_dlib_box - theirs, axis=2).mean():.4f} px")
    print(f"ours on the framed box {framed} vs dlib on dlib's boxes: "
          f"{np.linalg.norm(ours_framed - theirs, axis=2).mean():.3f} px mean")


if __name__ == "__main__":
    main()
