"""Every registry entry, in its tiny configuration: build, one training step,
`.keras` round trip, SavedModel and ONNX parity at batch sizes 1, 3, 64 for
every graph (cae_unpool's decode included, fed valid argmax inputs), and
decode(encode(x)) == reconstruct(x) through onnxruntime for autoencoders."""

import numpy as np
import pytest

import zoo
from zoo.export.onnx import export_onnx
from zoo.export.parity import check
from zoo.export.savedmodel import export_savedmodel
from tests.harness import assert_keras_round_trip, random_batch, random_inputs
from zoo.models.graphs import extra_names

NAMES = zoo.list_models()


@pytest.fixture(params=NAMES)
def tiny(request):
    spec = zoo.info(request.param)
    return spec, zoo.create(spec.name, **spec.tiny)


def test_builds_with_the_spec_input_shape(tiny):
    spec, model = tiny
    assert tuple(model.inputs[0].shape[1:]) == spec.input_shape
    assert model.count_params() > 0


def test_one_training_step_changes_weights_and_is_finite(tiny):
    spec, model = tiny
    if not model.trainable_weights:  # an enrollment model (face_id_knn): nothing trains
        assert_enrollment_changes_scores(model)
        return
    if spec.task == "detection":  # dlib's MMOD detector is converted; its loss is not ported
        assert getattr(model, "optimizer", None) is None and "no training" in spec.summary
        return
    x, y = random_batch(spec, model)
    before = [np.array(w) for w in model.trainable_weights]
    loss = model.train_on_batch(x, y, return_dict=True)["loss"]
    assert np.isfinite(loss)
    changed = [not np.array_equal(b, np.array(w)) for b, w in zip(before, model.trainable_weights)]
    assert any(changed)


def assert_enrollment_changes_scores(model):
    head = model.get_layer("knn")
    x = random_inputs(model, head.gallery_size)["image"]
    before = model.predict(x, verbose=0)
    labels = np.arange(head.gallery_size) % head.num_classes
    head.enroll(model.get_layer("embed").predict(x, verbose=0), labels)
    after = model.predict(x, verbose=0)
    assert np.isfinite(after).all() and not np.allclose(before, after)
    itself = 0.0 if head.metric == "euclidean" else 1.0  # each face's own enrolled copy
    np.testing.assert_allclose(after[np.arange(len(x)), labels], itself, atol=1e-4)


def test_keras_round_trip(tiny, tmp_path):
    spec, model = tiny
    assert_keras_round_trip(model, random_inputs(model, 3), tmp_path)


def test_savedmodel_and_onnx_parity(tiny, tmp_path):
    spec, model = tiny
    for graph in spec.graphs:
        export_onnx(model, graph, tmp_path / f"{graph}.onnx", {"zoo.name": spec.name})
    savedmodel = export_savedmodel(model, spec.graphs, tmp_path / "savedmodel")
    report = check(model, spec.graphs, onnx_dir=tmp_path, savedmodel_dir=savedmodel,
                   batch_sizes=(1, 3, 64), atol=1e-5)
    assert report.ok, report.table()
    for graph in spec.graphs:
        assert set(report.graphs[graph].errors) == {"savedmodel", "onnxruntime", "onnx.reference"}
    if {"encode", "decode", "reconstruct"} <= set(spec.graphs):
        _assert_decode_of_encode_is_reconstruct(model, tmp_path)


def _assert_decode_of_encode_is_reconstruct(model, folder):
    """With onnxruntime only: decode gets encode's first output (the code, a
    VAE's mean) as `code` and its extra outputs (cae_unpool's argmax_K) by name."""
    import onnxruntime as ort

    def run(graph, feed):
        session = ort.InferenceSession(str(folder / f"{graph}.onnx"), providers=["CPUExecutionProvider"])
        return dict(zip([o.name for o in session.get_outputs()], session.run(None, feed)))

    x = np.random.default_rng(0).random((5, *model.input_shape[1:])).astype("float32")
    encoded = run("encode", {"image": x})
    feed = {"code": next(iter(encoded.values()))}
    feed.update({n: encoded[n] for n in extra_names(model, "decode", "inputs")})
    np.testing.assert_allclose(run("decode", feed)["image"],
                               run("reconstruct", {"image": x})["reconstruction"], atol=1e-5)
