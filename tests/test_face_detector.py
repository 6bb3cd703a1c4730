"""dlib's CNN face detector: the .dat reader, the tiled pyramid, and detections against dlib.

`dlib` (the dlib-bin wheel, a dev dependency) is only the reference here; the
product never imports it.
"""

from zoo import backend  # noqa: F401

import subprocess
import sys

import dlib
import numpy as np
import onnxruntime as ort
import pytest
import tensorflow as tf
import tf2onnx

from benchmarks.face_detector import dlib_detections, match, orl_scene
from zoo.export.onnx import OPSET, check_serializable
from tests.harness import assert_keras_round_trip
from zoo.training.datasets.orl_faces import load_orl_faces
from zoo.faces import assets, pyramid
from zoo.faces.detector import FaceDetector, onnx_score_fn
from zoo.faces.mmod_dat import FILE, read_face_detector
from zoo.models.face_detector import build_face_detector


@pytest.fixture(scope="module")
def weights():
    return read_face_detector()


@pytest.fixture(scope="module")
def model(weights):
    return build_face_detector(weights)


@pytest.fixture(scope="module")
def dlib_cnn():
    return dlib.cnn_face_detection_model_v1(assets.model_path(FILE))


@pytest.fixture(scope="module")
def cases():
    """(image, upsample): 300x400 grey and RGB scenes of ORL faces at 1x and 2x, a
    scene of three overlapping faces (non-max suppression), raw ORL faces (92x112)
    upsampled once and a half-size one upsampled twice."""
    faces, _ = load_orl_faces()
    rng = np.random.default_rng(7)
    scenes = [(orl_scene(faces, rng, (300, 400), (1, 2), rgb=k % 2 == 1), 0) for k in range(4)]
    crowd = np.full((200, 300), 120, np.uint8)
    for (y, x), face in zip([(10, 10), (40, 60), (80, 150)], faces[1:4]):
        crowd[y : y + 112, x : x + 92] = face
    raw = [(faces[k], 1) for k in np.linspace(0, len(faces) - 1, 10).astype(int)]
    return [*scenes, (crowd, 0), (crowd, 1), *raw, (faces[3, ::2, ::2].copy(), 2)]


def test_the_file_reads_into_the_example_architecture(weights):
    kinds = [layer.kind for layer in weights.layers]
    assert kinds.count("con") == 7 and kinds.count("affine") == 6 and kinds[-1] == "con"
    np.testing.assert_allclose(weights.input_mean, (122.782, 117.001, 104.298), atol=1e-4)
    assert (weights.pyramid_padding, weights.outer_padding) == (10, 11)
    options = weights.options
    assert options.window == (80, 80)
    assert (options.nms.iou, options.nms.covered) == pytest.approx((0.3383, 1.0), abs=1e-4)
    paddings = [layer.weights["padding"] for layer in weights.layers if layer.kind == "con"]
    assert paddings == [(0, 0)] * 3 + [(2, 2)] * 3 + [(4, 4)]
    params = sum(w.size for layer in weights.layers for k, w in layer.weights.items() if k != "padding")
    assert params == 181_141  # 7 cons (weights + biases) and 6 affines (gamma + beta)


@pytest.mark.parametrize("size", [(480, 640, 400, 533), (20, 23, 16, 19), (112, 92, 225, 186)])
def test_resize_is_dlibs_bit_for_bit(size):
    rows, cols, out_rows, out_cols = size
    rng = np.random.default_rng(0)
    grey = rng.random((rows, cols), dtype=np.float32)
    ours = pyramid.resize_bilinear(grey[..., None], out_rows, out_cols)[..., 0]
    np.testing.assert_array_equal(ours, dlib.resize_image(grey, out_rows, out_cols))
    rgb = rng.integers(0, 256, (rows, cols, 3), dtype=np.uint8)
    ours = np.trunc(pyramid.resize_bilinear(rgb.astype(np.float64), out_rows, out_cols)).astype(np.uint8)
    np.testing.assert_array_equal(ours, dlib.resize_image(rgb, out_rows, out_cols))


def test_the_tile_holds_every_level_without_overlap():
    rects, rows, cols = pyramid.tile_layout(300, 400, 6, 10, 11)
    assert cols == 422 and rects[0] == (11, 11, 410, 310)
    sizes = [(r[3] - r[1] + 1, r[2] - r[0] + 1) for r in rects]
    assert sizes == pyramid.level_sizes(300, 400, 6)[: len(rects)] and sizes[-1][0] >= 5
    for i, a in enumerate(rects):
        assert 0 <= a[0] and 0 <= a[1] and a[2] < cols and a[3] < rows
        assert not any(pyramid._intersects(a, b) for b in rects[i + 1:])


def test_detections_match_dlib(model, dlib_cnn, cases):
    detector = FaceDetector(lambda tile: model(tile, training=False).numpy())
    same_count, pairs = 0, []
    for image, upsample in cases:
        ours = detector.detect(image, upsample)
        theirs = dlib_detections(dlib_cnn, image, upsample)
        same_count += len(ours) == len(theirs)
        pairs += match(ours, theirs)
    assert same_count == len(cases) and len(pairs) >= len(cases)
    ious, diffs = np.array(pairs).T
    assert np.mean(ious >= 0.9) >= 0.99
    assert diffs.max() < 1e-3


def test_the_model_round_trips_and_untrained_has_dlibs_geometry(model, tmp_path):
    x = np.random.default_rng(0).random((2, 61, 75, 3), dtype=np.float32)
    assert model(x).shape == (2, 5, 6, 1)
    assert_keras_round_trip(model, x, tmp_path, atol=1e-5)
    fresh = build_face_detector("none")
    assert [w.shape for w in fresh.get_weights()] == [w.shape for w in model.get_weights()]
    assert fresh(x).shape == (2, 5, 6, 1)
    with pytest.raises(ValueError, match="weights='imagenet'"):
        build_face_detector("imagenet")


def test_onnx_gives_the_keras_score_map_at_any_size(model, weights, cases):
    check_serializable(model)
    fn = tf.function(lambda image: model(image, training=False),
                     input_signature=[tf.TensorSpec((None, None, None, 3), tf.float32, name="image")])
    proto, _ = tf2onnx.convert.from_function(fn, input_signature=fn.input_signature, opset=OPSET)
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    detector = FaceDetector(onnx_score_fn(session), weights)
    for image, _ in (cases[0], cases[-1]):  # a 300x400 scene and a 112x92 face
        tile, _ = detector.tile(image)
        keras_map = model(tile[None], training=False).numpy()
        assert np.abs(session.run(None, {"image": tile[None]})[0] - keras_map).max() <= 1e-4
    keras_detector = FaceDetector(lambda tile: model(tile, training=False).numpy(), weights)
    ours, theirs = detector.detect(cases[1][0]), keras_detector.detect(cases[1][0])
    assert [d.box for d in ours] == [d.box for d in theirs] and ours
    np.testing.assert_allclose([d.confidence for d in ours], [d.confidence for d in theirs], atol=1e-4)


def test_an_image_too_small_for_one_window_has_no_faces(weights):
    def never(tile):
        raise AssertionError(f"scored a {tile.shape} tile")
    detector = FaceDetector(never, weights)
    for shape in [(0, 0), (1, 1), (5, 5, 3)]:
        assert detector.detect(np.zeros(shape, np.uint8)) == []
    assert detector.detect(np.zeros((0, 4), np.uint8), upsample=1) == []


def test_bad_images_are_refused_naming_the_value(weights):
    detector = FaceDetector(lambda tile: None, weights)
    with pytest.raises(ValueError, match="uint8"):
        detector.detect(np.zeros((10, 10, 4), np.uint8))
    with pytest.raises(ValueError, match="upsample=-1"):
        detector.detect(np.zeros((10, 10), np.uint8), upsample=-1)


def test_the_detector_needs_neither_dlib_nor_tensorflow():
    code = ("import sys, zoo.faces.detector; "
            "print(sorted(m for m in ('dlib', 'tensorflow', 'keras') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
