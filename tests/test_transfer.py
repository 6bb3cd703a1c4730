"""Transfer learning: the freeze proof, the fine-tune proof, backbones, the KNN head."""

import numpy as np
import pytest

from zoo import backend  # noqa: F401

import keras

from tests.harness import assert_keras_round_trip

from zoo.layers.heads import NearestNeighbourHead
from zoo.models.backbones import CNN_WIDTHS, applications_backbone, conv_backbone
from zoo.models.face_resnet import build_face_resnet_knn
from zoo.models.siamese import embedding_tower
from zoo.models.transfer import (
    build_transfer_classifier,
    copy_backbone,
    unfreeze,
)
from zoo.saving import load_model

SHAPE = (16, 12, 1)


def _data(n=32, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, *SHAPE)).astype("float32"), rng.integers(0, classes, n)


def _pretrained_backbone():
    """A small backbone whose BatchNorm statistics are not the initial 0 / 1."""
    keras.utils.set_random_seed(0)
    backbone = conv_backbone(SHAPE, (4, 8), name="embed")
    rng = np.random.default_rng(1)
    for layer in backbone.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.moving_mean.assign(rng.normal(size=layer.moving_mean.shape))
            layer.moving_variance.assign(rng.uniform(0.5, 2.0, size=layer.moving_variance.shape))
    return backbone


def _snapshot(model):
    return {v.path: np.array(v) for v in model.weights}


def test_frozen_backbone_is_bit_identical_after_fit():
    source = _pretrained_backbone()
    backbone = copy_backbone(source)
    model = build_transfer_classifier(backbone, 3, hidden=(8,), dropout=0.1)
    before, head_before = _snapshot(backbone), np.array(model.get_layer("probabilities").kernel)
    assert not backbone.trainable and not backbone.trainable_weights
    x, y = _data()
    model.fit(x, y, epochs=3, batch_size=8, verbose=0)
    after = _snapshot(backbone)
    assert after.keys() == before.keys()
    moving = [k for k in before if "moving" in k]
    assert len(moving) == 8  # mean and variance of 4 BatchNorm layers
    for key in before:
        assert np.array_equal(before[key], after[key]), key
    assert not np.array_equal(head_before, np.array(model.get_layer("probabilities").kernel))
    for a, b in zip(source.get_weights(), backbone.get_weights()):
        assert np.array_equal(a, b)  # the source is untouched too


def test_fine_tuning_changes_the_backbone_with_batchnorm_in_inference_mode():
    backbone = copy_backbone(_pretrained_backbone())
    model = build_transfer_classifier(backbone, 3, hidden=(8,), learning_rate=1e-2)
    x, y = _data()
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)  # the head first
    before = _snapshot(backbone)
    unfreeze(model, learning_rate=1e-3)
    assert backbone.trainable and backbone.trainable_weights
    assert float(model.optimizer.learning_rate) == pytest.approx(1e-3)
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    after = _snapshot(backbone)
    kernels = [k for k in before if k.endswith("kernel")]
    assert kernels and all(not np.array_equal(before[k], after[k]) for k in kernels)
    # BatchNorm stays frozen: in inference mode with the source-domain statistics.
    for key in (k for k in before if "bn" in k):
        assert np.array_equal(before[key], after[key]), key


def test_frozen_flag_survives_the_keras_round_trip(tmp_path):
    model = build_transfer_classifier(embedding_tower(SHAPE, (4, 8), 8, name="embed"), 3,
                                      hidden=(8,))
    model.save(tmp_path / "m.keras")
    again = load_model(tmp_path / "m.keras")
    assert not again.get_layer("embed").trainable
    assert again.get_layer("probabilities").trainable
    x, _ = _data(4)
    np.testing.assert_allclose(again.predict(x, verbose=0), model.predict(x, verbose=0),
                               atol=1e-6)


def test_copy_backbone_keeps_weights_and_takes_a_new_size():
    source = _pretrained_backbone()
    x, _ = _data(4)
    same = copy_backbone(source)
    np.testing.assert_array_equal(same.predict(x, verbose=0), source.predict(x, verbose=0))
    bigger = copy_backbone(source, (28, 24, 1), name="big")
    assert bigger.name == "big" and bigger.input_shape == (None, 28, 24, 1)
    assert bigger.predict(np.zeros((2, 28, 24, 1), "float32"), verbose=0).shape == (2, 8)


@pytest.mark.parametrize("family", sorted(CNN_WIDTHS))
def test_cnn_family_takes_every_face_size_with_the_same_weights(family):
    backbone = conv_backbone((None, None, 1), family)
    for size in ((28, 28), (56, 46), (112, 92)):
        out = backbone.predict(np.zeros((1, *size, 1), "float32"), verbose=0)
        assert out.shape == (1, CNN_WIDTHS[family][-1])
    with pytest.raises(ValueError, match="Unknown CNN family"):
        conv_backbone(widths="cnn_huge")


def test_applications_backbone_grayscale_and_weights_file(tmp_path):
    backbone = applications_backbone((64, 48, 1), "MobileNetV3Small")
    x = np.random.default_rng(0).random((2, 64, 48, 1)).astype("float32")
    features = backbone.predict(x, verbose=0)
    assert features.shape == (2, 576) and np.isfinite(features).all()
    # A gray image equals the same image given as RGB.
    rgb = applications_backbone((64, 48, 3), "MobileNetV3Small")
    rgb.set_weights(backbone.get_weights())
    np.testing.assert_allclose(rgb.predict(np.repeat(x, 3, -1), verbose=0), features, atol=1e-5)
    # weights= takes a file of the headless network (what "imagenet" downloads).
    network = backbone.layers[-1]
    path = tmp_path / "headless.weights.h5"
    network.save_weights(path)
    loaded = applications_backbone((64, 48, 1), "MobileNetV3Small", weights=str(path))
    np.testing.assert_allclose(loaded.predict(x, verbose=0), features, atol=1e-6)
    again = load_model(_saved(backbone, tmp_path))
    np.testing.assert_allclose(again.predict(x, verbose=0), features, atol=1e-6)


def _saved(model, folder):
    model.save(folder / "app.keras")
    return folder / "app.keras"


def test_applications_backbone_refuses_bad_arguments():
    with pytest.raises(ValueError, match="Unknown architecture"):
        applications_backbone(architecture="ResNet9000")
    with pytest.raises(ValueError, match=">= 32"):
        applications_backbone((28, 28, 1))


def _numpy_knn(x, gallery, labels, classes):
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    g = gallery / np.linalg.norm(gallery, axis=1, keepdims=True)
    sims = x @ g.T
    return np.stack([sims[:, labels == c].max(axis=1) for c in range(classes)], axis=1)


def test_nearest_neighbour_head_matches_numpy():
    rng = np.random.default_rng(0)
    gallery, labels = rng.normal(size=(7, 5)), np.array([0, 0, 1, 2, 2, 2, 1])
    x = rng.normal(size=(4, 5)).astype("float32")
    head = NearestNeighbourHead(3, 7)
    head.build((None, 5))
    head.enroll(gallery, labels)
    np.testing.assert_allclose(np.asarray(head(x)), _numpy_knn(x, gallery, labels, 3),
                               atol=1e-6)
    empty = NearestNeighbourHead(4, 7)
    empty.build((None, 5))
    empty.enroll(gallery, labels)  # class 3 has nobody enrolled
    assert (np.asarray(empty(x))[:, 3] < -3 + 1e-6).all()


def test_euclidean_nearest_neighbour_head_matches_numpy(tmp_path):
    rng = np.random.default_rng(1)
    gallery, labels = rng.normal(size=(7, 5)), np.array([0, 0, 1, 2, 2, 2, 1])
    x = rng.normal(size=(4, 5)).astype("float32")
    distance = np.linalg.norm(x[:, None] - gallery[None], axis=-1)
    expected = np.stack([distance[:, labels == c].min(axis=1) for c in range(3)], axis=1)
    inputs = keras.Input((5,))
    head = NearestNeighbourHead(4, 7, metric="euclidean")
    model = keras.Model(inputs, head(inputs))
    head.enroll(gallery, labels)  # class 3 has nobody enrolled
    scores = model.predict(x, verbose=0)
    np.testing.assert_allclose(scores[:, :3], expected, atol=1e-5)
    assert (scores[:, 3] > 1e4).all()
    assert_keras_round_trip(model, x, tmp_path)


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_nearest_neighbour_head_exports_without_slice(metric, tmp_path):
    """No Slice node in the head's ONNX graph (a `[:, :, None]` gave a no-op
    Slice 0..1e9 that tract refuses), and onnxruntime gives the Keras scores."""
    import onnx
    import onnxruntime

    from zoo.export.onnx import export_onnx

    rng = np.random.default_rng(2)
    inputs = keras.Input((5,), name="image")
    head = NearestNeighbourHead(3, 7, metric=metric)
    model = keras.Model(inputs, head(inputs))
    head.enroll(rng.normal(size=(7, 5)), np.array([0, 0, 1, 2, 2, 2, 1]))
    path = export_onnx(model, "identify", tmp_path / "identify.onnx", {})
    assert "Slice" not in {n.op_type for n in onnx.load(path).graph.node}
    x = rng.normal(size=(4, 5)).astype("float32")
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(session.run(None, {"image": x})[0], model.predict(x, verbose=0),
                               atol=1e-5)


def test_nearest_neighbour_head_refuses_bad_enrollment():
    head = NearestNeighbourHead(3, 4)
    head.build((None, 5))
    with pytest.raises(ValueError, match=r"shape \(4, 5\)"):
        head.enroll(np.zeros((3, 5)), np.zeros(3, int))
    with pytest.raises(ValueError, match=r"class ids in \[0, 3\)"):
        head.enroll(np.ones((4, 5)), np.array([0, 1, 2, 3]))


def test_face_knn_model_identifies_enrolled_faces_and_round_trips(tmp_path):
    keras.utils.set_random_seed(0)
    model = build_face_resnet_knn(weights="none", num_classes=3, gallery_size=6)
    x = np.random.default_rng(0).random((6, 150, 150, 3)).astype("float32")
    labels = np.array([0, 0, 1, 1, 2, 2])
    embed = model.get_layer("embed")
    model.get_layer("knn").enroll(embed.predict(x, verbose=0), labels)
    scores = model.predict(x, verbose=0)
    np.testing.assert_allclose(scores.min(axis=1), 0.0, atol=1e-3)  # each face finds itself
    assert (np.argmin(scores, axis=1) == labels).all()
    assert not embed.trainable
    model.save(tmp_path / "knn.keras")
    np.testing.assert_allclose(load_model(tmp_path / "knn.keras").predict(x, verbose=0),
                               scores, atol=1e-5)