"""Export: SavedModel + ONNX artifacts match Keras and honour the contract.

Four tiny models cover every graph: a classifier (`classify`), a siamese
model with a nested `embed` tower (`embed`, `verify`), an autoencoder with
nested `encode` / `decode` models (`encode`, `decode`, `reconstruct`), and
an unpooling autoencoder whose `encode` / `decode` also pass int64 argmax
tensors (extra outputs / inputs declared in `graph_extras`). Each is
exported once per module and shared by the tests.
"""

import json
import types

import numpy as np
import pytest

from zoo import backend  # noqa: F401

import keras
import onnx
import tensorflow as tf

import zoo
from zoo.export import parity
from zoo.export.onnx import BATCH_DIM, OPSET, check_serializable, export_onnx
from zoo.export.savedmodel import export_savedmodel, load_savedmodel_signatures
from zoo.export.signatures import input_specs
from zoo.models import graphs
from zoo.models.autoencoders import UnpoolingAutoencoder
from zoo.models.graphs import GRAPH_INPUTS, extra_names, input_names, output_names

BATCH_SIZES = (1, 3, 64)


def _classifier():
    return zoo.create("fmnist_cnn", widths=(4, 8)), ("classify",)


def _siamese():
    image = keras.Input((16, 16, 1), name="image")
    x = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(image)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    x = keras.layers.Dropout(0.5, name="dropout")(x)  # must not sample on export
    tower = keras.Model(image, keras.layers.Dense(8, name="proj")(x), name="embed")
    image_a = keras.Input((16, 16, 1), name="image_a")
    image_b = keras.Input((16, 16, 1), name="image_b")
    score = keras.layers.Dot(axes=1, normalize=True, name="cosine")([tower(image_a), tower(image_b)])
    return keras.Model([image_a, image_b], score, name="siamese"), ("verify", "embed")


def _autoencoder(k=6):
    image = keras.Input((16, 16, 1), name="image")
    x = keras.layers.Conv2D(4, 3, strides=2, padding="same", activation="relu")(image)
    x = keras.layers.Flatten()(x)
    encode = keras.Model(image, keras.layers.Dense(k, name="code")(x), name="encode")
    code = keras.Input((k,), name="code")
    y = keras.layers.Dense(8 * 8 * 4, activation="relu")(code)
    y = keras.layers.Reshape((8, 8, 4))(y)
    y = keras.layers.Conv2DTranspose(1, 3, strides=2, padding="same", activation="sigmoid")(y)
    decode = keras.Model(code, y, name="decode")
    outer = keras.Input((16, 16, 1), name="image")
    model = keras.Model(outer, decode(encode(outer)), name="autoencoder")
    return model, ("encode", "decode", "reconstruct")


def _unpool():
    model = UnpoolingAutoencoder(image_shape=(8, 8, 1), code_size=3, widths=(2, 3))
    return model, ("encode", "decode", "reconstruct")


BUILDERS = {"classifier": _classifier, "siamese": _siamese, "autoencoder": _autoencoder,
            "unpool": _unpool}


def _metadata(model):
    return {"zoo.name": model.name, "zoo.version": "1.0.0",
            "zoo.preprocess": {"scale": 1 / 255}, "zoo.weights_sha256": "0" * 64}


@pytest.fixture(scope="module", params=sorted(BUILDERS))
def exported(request, tmp_path_factory):
    """A model with its SavedModel and per-graph ONNX files."""
    keras.utils.set_random_seed(0)
    model, graphs = BUILDERS[request.param]()
    root = tmp_path_factory.mktemp(request.param)
    savedmodel_dir = export_savedmodel(model, graphs, root / "savedmodel")
    for graph in graphs:
        export_onnx(model, graph, root / f"{graph}.onnx", _metadata(model))
    return types.SimpleNamespace(model=model, graphs=graphs, root=root, savedmodel_dir=savedmodel_dir)


def _real_inputs(case, batch=5):
    """Uniform [0, 1) floats; extra inputs (argmax) from encode of such images."""
    rng = np.random.default_rng(1)
    inputs = {}
    for graph in case.graphs:
        specs = input_specs(case.model, graph)
        inputs[graph] = {s.name: rng.uniform(0, 1, (batch, *s.shape[1:])).astype("float32")
                         for s in specs if s.name not in extra_names(case.model, graph, "inputs")}
        if extra_names(case.model, graph, "inputs"):
            image = rng.uniform(0, 1, (batch, *case.model.input_shape[1:])).astype("float32")
            inputs[graph].update(parity.side_inputs(case.model, graph, image))
    return inputs


def test_parity_within_default_atol(exported):
    report = parity.check(exported.model, exported.graphs, onnx_dir=exported.root,
                          savedmodel_dir=exported.savedmodel_dir,
                          inputs=_real_inputs(exported), batch_sizes=BATCH_SIZES)
    print("\n" + report.table())
    assert report.ok, report.table()
    card = report.to_card()
    assert list(card) == list(exported.graphs)
    for graph, entry in card.items():
        assert entry["max_abs_err"] <= entry["atol"] == parity.DEFAULT_ATOL
        # Only graphs with integer outputs (the unpooling encode's argmax) count index mismatches.
        has_indices = graph == "encode" and bool(extra_names(exported.model, graph, "outputs"))
        assert ("index_mismatch" in entry) == has_indices
        assert entry.get("index_mismatch", 0.0) <= parity.MAX_INDEX_MISMATCH
        assert entry["max_rel_err"] >= 0
        assert entry["batch_sizes"] == list(BATCH_SIZES)
        assert entry["engines"] == ["savedmodel", "onnxruntime", parity.REFERENCE_ENGINE]
        # onnx's ReferenceEvaluator runs the first rows of every feed only.
        assert entry["reference_rows"] == parity.REFERENCE_ROWS
    json.dumps(card)  # the card field must be plain JSON


def test_onnx_contract(exported):
    for graph in exported.graphs:
        proto = onnx.load(str(exported.root / f"{graph}.onnx"))
        onnx.checker.check_model(proto, full_check=True)
        assert [o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")] == [OPSET]
        # Only the domains a node uses (tf2onnx also declared an unused ai.onnx.ml).
        assert {o.domain for o in proto.opset_import} <= {"", "ai.onnx"} | {n.domain for n in proto.graph.node}
        assert "ai.onnx.ml" not in {o.domain for o in proto.opset_import}
        # Only the batch is dynamic, so every Reshape target is a constant
        # (tract refuses "Reshape ... shape input is variable") and no Shape op is left.
        constants = {t.name for t in proto.graph.initializer}
        assert all(n.input[1] in constants for n in proto.graph.node if n.op_type == "Reshape")
        assert "Shape" not in {n.op_type for n in proto.graph.node}
        # The argmax comes without MaxPool's optional Indices output (onnx2torch refuses it).
        assert all(len(n.output) == 1 for n in proto.graph.node if n.op_type == "MaxPool")
        names = output_names(exported.model, graph)
        assert [v.name for v in proto.graph.input] == list(input_names(exported.model, graph))
        assert [v.name for v in proto.graph.output] == list(names)
        extras = {*extra_names(exported.model, graph, "inputs"),
                  *extra_names(exported.model, graph, "outputs")}
        for value in [*proto.graph.input, *proto.graph.output]:
            batch = value.type.tensor_type.shape.dim[0]
            assert batch.dim_param == BATCH_DIM and not batch.HasField("dim_value")
            # Contract tensors are float32; the unpooling argmax extras are int64.
            want = onnx.TensorProto.INT64 if value.name in extras else onnx.TensorProto.FLOAT
            assert value.type.tensor_type.elem_type == want, value.name
        props = {p.key: p.value for p in proto.metadata_props}
        assert props["zoo.name"] == exported.model.name
        assert json.loads(props["zoo.preprocess"]) == {"scale": 1 / 255}
        assert set(props) == set(_metadata(exported.model))


def test_savedmodel_signatures(exported):
    signatures = load_savedmodel_signatures(exported.savedmodel_dir)
    assert sorted(signatures) == sorted(exported.graphs)
    loaded = tf.saved_model.load(str(exported.savedmodel_dir))
    default = loaded.signatures["serving_default"]
    first = loaded.signatures[exported.graphs[0]]
    assert default.structured_input_signature == first.structured_input_signature
    for graph in exported.graphs:
        sig = loaded.signatures[graph]
        specs = sig.structured_input_signature[1]
        assert sorted(specs) == sorted(input_names(exported.model, graph))
        assert all(s.shape[0] is None for s in specs.values())
        assert sorted(sig.structured_outputs) == sorted(output_names(exported.model, graph))
    if "verify" in exported.graphs:
        feed = _real_inputs(exported, batch=4)["verify"]
        assert signatures["verify"](**feed)["score"].shape == (4,)


def test_test_data_roundtrip(exported, tmp_path):
    for graph, feed in _real_inputs(exported, batch=2).items():
        onnx_path = exported.root / f"{graph}.onnx"
        folder = tmp_path / "test_data" / graph
        parity.write_test_data(onnx_path, feed, parity.reference_outputs(exported.model, graph, feed), folder)
        names = output_names(exported.model, graph)
        expected = {f"input_{k}.pb" for k in range(len(feed))} | {f"output_{k}.pb" for k in range(len(names))}
        assert {p.name for p in folder.iterdir()} == expected
        tensor = onnx.TensorProto()
        tensor.ParseFromString((folder / "input_0.pb").read_bytes())
        assert tensor.name == GRAPH_INPUTS[graph][0]
        assert parity.verify_test_data(onnx_path, folder, atol=1e-5, reference=True) <= 1e-5


@pytest.mark.parametrize("exported", ["autoencoder", "unpool"], indirect=True)
def test_extra_inputs_and_outputs_round_trip_through_onnx(exported):
    """decode(**encode(x)) == reconstruct(x) with onnxruntime alone: the
    extra outputs of encode feed the extra inputs of decode by name."""
    import onnxruntime as ort

    def session(graph):
        path = str(exported.root / f"{graph}.onnx")
        return ort.InferenceSession(path, providers=["CPUExecutionProvider"])

    x = np.random.default_rng(2).uniform(0, 1, (4, *exported.model.input_shape[1:]))
    x = x.astype("float32")
    encode, decode = session("encode"), session("decode")
    encoded = dict(zip([o.name for o in encode.get_outputs()], encode.run(None, {"image": x})))
    feed = {"code": encoded["code"], **{n: encoded[n] for n in extra_names(exported.model, "decode", "inputs")}}
    (decoded,) = decode.run(None, feed)
    (reconstructed,) = session("reconstruct").run(None, {"image": x})
    np.testing.assert_allclose(decoded, reconstructed, atol=1e-6)


def test_side_inputs_must_come_from_encode():
    model, _ = _unpool()
    images = np.zeros((2, 8, 8, 1), np.float32)
    assert sorted(parity.side_inputs(model, "decode", images)) == ["argmax_1", "argmax_2"]
    assert parity.side_inputs(model, "reconstruct", images) == {}

    orphan, _ = _autoencoder()
    orphan.graph_extras = {"decode": {"inputs": ("mask",)}}
    with pytest.raises(ValueError, match=r"\['mask'\].*not outputs of its 'encode' graph"
                                         r".*graph_extras\['encode'\]"):
        parity.side_inputs(orphan, "decode", np.zeros((2, 16, 16, 1), np.float32))


def test_inputs_follow_contract_order(tmp_path):
    """A model declaring (image_b, image_a) with an asymmetric head still
    exports inputs as (image_a, image_b) and computes the same score."""
    image_a = keras.Input((4, 4, 1), name="image_a")
    image_b = keras.Input((4, 4, 1), name="image_b")
    diff = keras.layers.Subtract()([keras.layers.Flatten()(image_a), keras.layers.Flatten()(image_b)])
    model = keras.Model([image_b, image_a], keras.layers.Dense(1)(diff), name="ordered")
    export_onnx(model, "verify", tmp_path / "verify.onnx", {})
    export_savedmodel(model, ("verify",), tmp_path / "sm")
    proto = onnx.load(str(tmp_path / "verify.onnx"))
    assert [v.name for v in proto.graph.input] == ["image_a", "image_b"]
    report = parity.check(model, ("verify",), onnx_dir=tmp_path, savedmodel_dir=tmp_path / "sm",
                          batch_sizes=(3,), atol=1e-6)
    assert report.ok, report.table()


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    keras.utils.set_random_seed(0)
    model, graphs = _classifier()
    root = tmp_path_factory.mktemp("classifier_only")
    export_onnx(model, "classify", root / "classify.onnx", {"zoo.name": model.name})
    return types.SimpleNamespace(model=model, graphs=graphs, root=root)


def test_perturbed_initializer_fails_parity(classifier, tmp_path):
    proto = onnx.load(str(classifier.root / "classify.onnx"))
    weight = max(proto.graph.initializer, key=lambda t: np.prod(t.dims))
    array = onnx.numpy_helper.to_array(weight) + 1e-2
    weight.CopyFrom(onnx.numpy_helper.from_array(array.astype(np.float32), weight.name))
    onnx.save(proto, str(tmp_path / "classify.onnx"))
    report = parity.check(classifier.model, classifier.graphs, onnx_dir=tmp_path, batch_sizes=(3,))
    assert not report.ok
    assert report.to_card()["classify"]["max_abs_err"] > 1e-5
    assert "NO" in report.table()
    assert report.summary() == "0 of 1 graphs pass on every engine; failed: classify"


def test_different_model_fails_at_atol_zero(classifier):
    other = zoo.create("fmnist_cnn", widths=(4, 8))  # same shapes, other weights
    report = parity.check(other, classifier.graphs, onnx_dir=classifier.root, batch_sizes=(1,), atol=0.0)
    assert not report.ok


def test_atol_override_needs_reason(classifier):
    with pytest.raises(ValueError, match="needs a reason"):
        parity.check(classifier.model, classifier.graphs, onnx_dir=classifier.root, atol=1e-3)
    report = parity.check(classifier.model, classifier.graphs, onnx_dir=classifier.root,
                          batch_sizes=(2,), atol={"classify": (1e-4, "fused softmax")})
    assert report.ok
    assert report.to_card()["classify"]["atol"] == 1e-4
    assert report.to_card()["classify"]["atol_reason"] == "fused softmax"
    with pytest.raises(ValueError, match="not checked"):
        parity.check(classifier.model, classifier.graphs, onnx_dir=classifier.root, atol={"embed": 1e-6})


def test_integer_outputs_count_mismatches_not_distances():
    """An argmax index that moves by one column (16 channels) is one
    mismatch, not an error of 16; up to MAX_INDEX_MISMATCH is allowed."""
    reference = np.arange(20000).reshape(2, 100, 100)
    moved = reference.copy()
    moved[0, 0, 0] += 16
    assert list(parity._index_mismatch(reference, moved)) == [1, 20000]
    assert list(parity._index_mismatch(reference, moved[:1])) == [20000, 20000]
    assert list(parity._index_mismatch(reference, None)) == [20000, 20000]
    ok = parity.GraphParity("encode", 1e-5, None, (1,), {"onnxruntime": (0.0, 0.0)},
                            {"onnxruntime": parity.MAX_INDEX_MISMATCH})
    bad = parity.GraphParity("encode", 1e-5, None, (1,), {"onnxruntime": (0.0, 0.0)},
                             {"onnxruntime": 2 * parity.MAX_INDEX_MISMATCH})
    assert ok.ok and not bad.ok
    report = parity.ParityReport({"encode": bad})
    assert not report.ok and "NO" in report.table()
    assert report.to_card()["encode"]["index_mismatch"] == 2 * parity.MAX_INDEX_MISMATCH


def test_check_needs_an_engine(classifier):
    with pytest.raises(ValueError, match="Nothing to check"):
        parity.check(classifier.model, classifier.graphs)


def test_tampered_test_data_is_detected(classifier, tmp_path):
    feed = {"image": np.random.default_rng(0).uniform(0, 1, (2, 28, 28, 1)).astype("float32")}
    onnx_path = classifier.root / "classify.onnx"
    wrong = {"probabilities": np.full((2, 10), 0.5, np.float32)}
    parity.write_test_data(onnx_path, feed, wrong, tmp_path)
    with pytest.raises(ValueError, match="disagrees"):
        parity.verify_test_data(onnx_path, tmp_path, atol=1e-5)
    with pytest.raises(ValueError, match="exactly once"):
        parity.write_test_data(onnx_path, {"images": feed["image"]}, wrong, tmp_path)


def _with_layer(layer):
    image = keras.Input((4, 4, 1), name="image")
    inner = keras.Model(image, layer(keras.layers.Flatten()(image)), name="embed")
    outer = keras.Input((4, 4, 1), name="image")
    return keras.Model(outer, inner(outer), name="outer")


def test_lambda_layer_is_refused(tmp_path):
    model = _with_layer(keras.layers.Lambda(lambda t: 2.0 * t, name="double_it"))
    with pytest.raises(ValueError, match="'double_it'.*Lambda"):
        check_serializable(model)
    with pytest.raises(ValueError, match="double_it"):
        export_onnx(model, "embed", tmp_path / "embed.onnx", {})
    assert not (tmp_path / "embed.onnx").exists()


class _Unregistered(keras.layers.Layer):
    def call(self, x):
        return x * 2.0


def test_unregistered_layer_is_refused():
    with pytest.raises(ValueError, match="'unregistered'.*register_keras_serializable"):
        check_serializable(_with_layer(_Unregistered(name="unregistered")))


def test_output_named_like_input_is_refused(monkeypatch, tmp_path):
    monkeypatch.setitem(graphs.GRAPH_OUTPUTS, "reconstruct", ("image",))
    with pytest.raises(ValueError, match="reconstruction"):
        export_onnx(_autoencoder()[0], "reconstruct", tmp_path / "r.onnx", {})


def test_builtin_and_zoo_models_pass():
    check_serializable(_classifier()[0])
    check_serializable(_autoencoder()[0])
