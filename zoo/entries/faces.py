"""Face entries on ORL/AT&T (the lecture's Transfer Learning and face recognition).

`face_resnet` is the "network trained on celebrities": dlib's ResNet (about 3M
faces), ported. `face_verify`, `face_id_knn`, `face_id_head` and
`face_id_finetune` reuse it, unchanged or adapted, for the unseen people
s31-s40 (10 identities); like it they are derived artifacts (the network's
weights come from the pinned package, the few trained here are published).
`face_embed` is the small embedding trained here on s1-s25, kept for contrast.
People s26-s30 calibrate every threshold.
"""

from zoo.entries._common import entry

FACE_SHAPE = (56, 46, 1)  # ORL's 112x92 halved by area averaging
_TOWER = {"input_shape": FACE_SHAPE, "widths": "cnn_s", "embedding_dim": 64}
_TINY = {"widths": (4, 8)}
_PREPROCESS = {"source": "uint8 grayscale face, ORL framing (112x92: upright, centred)",
               "resize": list(FACE_SHAPE[:2])}


def _face_entry(name, builder, task, covers, summary, graphs, defaults, distance=None):
    entry(name=name, builder=builder, task=task, covers=covers, summary=summary,
          input_shape=FACE_SHAPE, graphs=graphs, dataset="orl_faces", distance=distance,
          preprocess=_PREPROCESS, defaults={**_TOWER, **defaults}, tiny=_TINY,
          recipe=f"zoo.training.recipes.{name}")


_face_entry(
    "face_embed", "zoo.models.siamese:build_embedder", "embedding",
    covers="Face embedding pretrained with metric learning on other people (the "
    "lecture's 'network trained on celebrities'); ORL s1-s30",
    summary="Face CNN (cnn_s, from omniglot_siamese) -> 64-d unit embedding, ranking "
    "loss on ORL s1-s25.",
    graphs=("embed",), distance="cosine",
    defaults={"loss": "ranking", "temperature": 0.1, "learning_rate": 1e-3},
)
# dlib's ResNet takes a 150x150 RGB chip aligned on its 5-point landmarks.
_CHIP = (150, 150, 3)
_CHIP_PREPROCESS = {
    "source": "uint8 face image, grey or RGB, framed like ORL (or with a face box); the "
              "runtime aligns it to a 150x150x3 chip with dlib's 5-point landmarks",
    "align": {"landmarks": "shape_predictor_5_face_landmarks.dat", "size": 150, "padding": 0.25},
    "resize": [150, 150], "scale": 1.0 / 255.0, "channels": 3,
}
_PACKAGE = {"package": "face-recognition-models==0.3.0",
            "file": "dlib_face_recognition_resnet_model_v1.dat",
            "sha256": "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30"}


def _derived(graph, trained=False):
    return {**_PACKAGE, "builds": ["model.keras", f"{graph}.onnx"],
            **({"trained": "trained.npz"} if trained else {})}


def _resnet_entry(name, builder, task, covers, summary, graph, defaults=None, trained=False,
                  distance=None):
    entry(name=name, builder=f"zoo.models.face_resnet:{builder}", task=task, covers=covers,
          summary=summary, input_shape=_CHIP, graphs=(graph,), dataset="orl_faces",
          distance=distance, preprocess=_CHIP_PREPROCESS,
          defaults={"weights": "dlib", **(defaults or {})}, tiny={"weights": "none"},
          recipe=f"zoo.training.recipes.{name}", derived=_derived(graph, trained))


_resnet_entry(
    "face_resnet", "build_face_resnet", "embedding",
    covers="The lecture's 'network trained on celebrities': dlib's metric-learning ResNet "
    "(about 3M faces, 99.38% on LFW), ported to Keras 3 and ONNX",
    summary="dlib's face ResNet-29 (Keras port): aligned 150x150 RGB chip -> 128-d "
    "embedding, euclidean distance (dlib: same person below 0.6).",
    graph="embed", distance="euclidean",
)
_resnet_entry(
    "face_verify", "build_face_resnet_verify", "verification",
    covers="Face verification 1:1 on unseen people: tied face_resnet towers with a "
    "euclidean head, threshold calibrated on s26-s30",
    summary="Two face_resnet towers, euclidean score (lower = same person).",
    graph="verify",
)
_resnet_entry(
    "face_id_knn", "build_face_resnet_knn", "identification",
    covers="Face identification 1:N without fine-tuning (lecture 1.4): KNN over frozen "
    "face_resnet embeddings of the enrolled people s31-s40",
    summary="face_resnet + euclidean 1-NN over 5 enrolled faces per person of s31-s40 "
    "(open set).",
    graph="identify", defaults={"num_classes": 10, "gallery_size": 50}, trained=True,
)
_RESNET_CLASSIFIER = {"num_classes": 10, "hidden": (64,), "dropout": 0.2,
                      "learning_rate": 1e-3, "trainable": False}
_resnet_entry(
    "face_id_head", "build_face_resnet_classifier", "identification",
    covers="Transfer learning approach 1 (lecture 1.3): frozen face_resnet "
    "(trainable=False, called with training=False) + a new softmax head for s31-s40",
    summary="Frozen face_resnet + BatchNorm + Dense(64) + softmax over the 10 people s31-s40.",
    graph="classify", defaults=_RESNET_CLASSIFIER, trained=True,
)
_resnet_entry(
    "face_id_finetune", "build_face_resnet_classifier", "identification",
    covers="Transfer learning approach 2: face_id_head's head first, then the top of "
    "face_resnet (last conv, its affine, the embedding layer) fine-tuned at a lower rate",
    summary="face_resnet + Dense(64) + softmax over s31-s40, the top layers fine-tuned.",
    graph="classify", defaults=_RESNET_CLASSIFIER, trained=True,
)

# dlib's MMOD CNN face detector: fully convolutional, so one score_map graph takes any
# height and width (zoo.faces.detector tiles the image pyramid and decodes the map).
entry(
    name="face_detector", builder="zoo.models.face_detector:build_face_detector",
    task="detection",
    covers="Face detection before alignment: dlib's MMOD CNN face detector "
    "(mmod_human_face_detector.dat), ported to Keras 3 and ONNX",
    summary="dlib's MMOD CNN face detector (Keras port): tiled image pyramid -> score map "
    "of 80x80 windows; NumPy pyramid, decoding and NMS in zoo.faces.detector; converted, "
    "no training here (dlib's MMOD loss is not ported).",
    input_shape=(None, None, 3), graphs=("score_map",), dataset="orl_faces",
    preprocess={"source": "uint8 photo, grey or RGB; zoo.faces.detector upsamples it, tiles "
                          "its image pyramid (downscale 5/6) and decodes the score map",
                "resize": None, "scale": 1.0 / 255.0, "channels": 3,
                "detector": {"window": [80, 80], "pyramid_downscale": [5, 6],
                             "threshold": 0.0}},
    defaults={"weights": "dlib"}, tiny={"weights": "none"},
    recipe="zoo.training.recipes.face_detector",
)
