"""dlib's face ResNet: the .dat reader, the two dlib layers, and descriptors against dlib.

`dlib` (the dlib-bin wheel, a dev dependency) is only the reference here; the
product never imports it.
"""

from zoo import backend  # noqa: F401

import dlib
import keras
import numpy as np
import onnxruntime as ort
import pytest

from tests.harness import assert_keras_round_trip
from zoo.training.datasets.orl_faces import load_orl_faces
from zoo.faces import assets
from zoo.faces.resnet_dat import FILE, architecture, read_face_resnet
from zoo.layers.dlib import ChannelAffine, ZeroExtendAdd
from zoo.models.face_resnet import build_face_resnet

CHIPS = 120  # real ORL faces, aligned by dlib itself


@pytest.fixture(scope="module")
def dlib_chips():
    """dlib's chips and descriptors of 120 ORL faces: its landmarks on a fixed
    framed-face box, `get_face_chip(size=150, padding=0.25)`, `compute_face_descriptor`."""
    images, _ = load_orl_faces()
    predictor = dlib.shape_predictor(assets.model_path("shape_predictor_5_face_landmarks.dat"))
    net = dlib.face_recognition_model_v1(assets.model_path(FILE))
    chips = []
    for image in images[np.linspace(0, len(images) - 1, CHIPS).astype(int)]:
        rgb = np.repeat(image[..., None], 3, axis=-1)
        shape = predictor(rgb, dlib.rectangle(10, 20, 82, 92))
        chips.append(dlib.get_face_chip(rgb, shape, size=150, padding=0.25))
    chips = np.stack(chips)
    descriptors = np.stack([np.array(net.compute_face_descriptor(c)) for c in chips])
    return chips, descriptors.astype(np.float32)


@pytest.fixture(scope="module")
def model():
    return build_face_resnet()


def test_the_file_reads_into_the_example_architecture():
    weights = read_face_resnet()
    kinds = [layer.kind for layer in weights.layers]
    assert kinds.count("con") == 29 and kinds.count("add_prev") == 14 and kinds[-1] == "fc"
    np.testing.assert_allclose(weights.input_mean, (122.782, 117.001, 104.298), atol=1e-4)
    assert (weights.margin, weights.distance_threshold) == pytest.approx((0.04, 0.6))
    assert weights.layers[0].weights["kernel"].shape == (7, 7, 3, 32)
    assert weights.layers[-1].weights["kernel"].shape == (256, 128)
    params = sum(w.size for layer in weights.layers for k, w in layer.weights.items() if k != "padding")
    assert params == 5_614_592


def test_the_layer_list_is_dlibs_anet_type():
    layers = architecture()
    assert sum(layer.kind == "tag" and layer.args == (2,) for layer in layers) == 4  # down blocks
    assert [layer.args[0] for layer in layers if layer.kind == "con"][:2] == [32, 32]


def test_channel_affine_matches_numpy_and_round_trips(tmp_path):
    x = np.random.default_rng(0).normal(size=(2, 3, 4, 5)).astype(np.float32)
    gamma, beta = np.arange(1, 6, dtype=np.float32), -np.arange(5, dtype=np.float32)
    inputs = keras.Input((3, 4, 5))
    layer = ChannelAffine()
    model = keras.Model(inputs, layer(inputs))
    layer.set_weights([gamma, beta])
    np.testing.assert_allclose(model.predict(x, verbose=0), x * gamma + beta, atol=1e-6)
    assert_keras_round_trip(model, x, tmp_path)


def test_zero_extend_add_pads_the_smaller_input_like_dlib(tmp_path):
    rng = np.random.default_rng(0)
    a = rng.normal(size=(2, 3, 3, 4)).astype(np.float32)
    b = rng.normal(size=(2, 4, 4, 2)).astype(np.float32)
    expected = np.zeros((2, 4, 4, 4), np.float32)
    expected[:, :3, :3, :] += a  # dlib aligns both at the top-left and the first channel
    expected[:, :, :, :2] += b
    ia, ib = keras.Input((3, 3, 4)), keras.Input((4, 4, 2))
    model = keras.Model([ia, ib], ZeroExtendAdd()([ia, ib]))
    np.testing.assert_allclose(model.predict([a, b], verbose=0), expected, atol=1e-6)
    assert_keras_round_trip(model, [a, b], tmp_path)


def test_keras_port_gives_dlibs_descriptors(model, dlib_chips):
    chips, descriptors = dlib_chips
    ours = model.predict(chips.astype(np.float32) / 255.0, batch_size=32, verbose=0)
    assert np.abs(ours - descriptors).max() <= 1e-4


def test_embed_onnx_gives_dlibs_descriptors(model, dlib_chips, tmp_path):
    from zoo.export.onnx import export_onnx

    chips, descriptors = dlib_chips
    path = export_onnx(model, "embed", tmp_path / "embed.onnx", {"zoo.name": "face_resnet"})
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for batch in (1, 32):
        out = np.concatenate([session.run(None, {"image": chips[i:i + batch].astype(np.float32) / 255.0})[0]
                              for i in range(0, 64, batch)])
        assert np.abs(out - descriptors[:64]).max() <= 1e-4
