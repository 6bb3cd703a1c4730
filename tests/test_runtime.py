"""zoo.runtime on tiny hand-built ONNX artifacts (no Keras, no export package).

The graphs are linear, so every expected value is a NumPy one-liner:
embed = flatten(x) @ W, verify = sum((a - b)^2), decode = sigmoid(code @ D).
With `argmax=True` encode also outputs an int64 `argmax_1` = (x > 0.5) and
decode takes it back as an extra input: image = sigmoid(code @ D) * argmax_1.
"""

import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from zoo import hub, registry, runtime
from zoo.registry import ModelSpec
from zoo.runtime import ArtifactError

ROOT = Path(__file__).resolve().parents[1]
H = W = 4
DIM, CODE, CLASSES = 3, 2, 5
RNG = np.random.default_rng(0)
W_EMBED = RNG.normal(size=(H * W, DIM)).astype(np.float32)
W_EMBED3 = RNG.normal(size=(H * W * 3, DIM)).astype(np.float32)
W_CLASSIFY = RNG.normal(size=(H * W, CLASSES)).astype(np.float32)
W_ENCODE = RNG.normal(size=(H * W, CODE)).astype(np.float32)
W_LOG_VAR = RNG.normal(size=(H * W, CODE)).astype(np.float32)
W_DECODE = RNG.normal(size=(CODE, H * W)).astype(np.float32)
SCALE = 1.0 / 255.0


def _tensor(name, shape, dtype=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, dtype, shape)


def _onnx(nodes, inputs, outputs, weights=None):
    inits = [numpy_helper.from_array(v, k) for k, v in (weights or {}).items()]
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    helper.set_model_props(model, {"zoo.name": "tiny", "zoo.version": "1.0.0"})  # as export writes
    onnx.checker.check_model(model)
    return model.SerializeToString()


def _image(name="image", channels=1):
    return _tensor(name, ["N", H, W, channels])


def _linear(output, weight, name="image"):
    return [helper.make_node("Flatten", [name], [f"{output}_flat"], axis=1),
            helper.make_node("MatMul", [f"{output}_flat", weight], [output])]


def build_graph(graph, channels=1, vae=False, argmax=False):
    """(onnx bytes, card inputs, card outputs) of one tiny graph."""
    img = [-1, H, W, channels]
    if graph == "encode" and argmax:
        nodes = _linear("code", "w") + [
            helper.make_node("Greater", ["image", "half"], ["above"]),
            helper.make_node("Cast", ["above"], ["argmax_1"], to=TensorProto.INT64)]
        return (_onnx(nodes, [_image()], [_tensor("code", ["N", CODE]),
                                          _tensor("argmax_1", ["N", H, W, 1], TensorProto.INT64)],
                      {"w": W_ENCODE, "half": np.array(0.5, np.float32)}),
                {"image": img}, {"code": [-1, CODE], "argmax_1": [-1, H, W, 1]})
    if graph == "decode" and argmax:
        nodes = [helper.make_node("MatMul", ["code", "w"], ["flat"]),
                 helper.make_node("Sigmoid", ["flat"], ["pixels"]),
                 helper.make_node("Reshape", ["pixels", "shape"], ["dense"]),
                 helper.make_node("Cast", ["argmax_1"], ["mask"], to=TensorProto.FLOAT),
                 helper.make_node("Mul", ["dense", "mask"], ["image"])]
        return (_onnx(nodes, [_tensor("code", ["N", CODE]),
                              _tensor("argmax_1", ["N", H, W, 1], TensorProto.INT64)], [_image()],
                      {"w": W_DECODE, "shape": np.array([-1, H, W, 1], np.int64)}),
                {"code": [-1, CODE], "argmax_1": [-1, H, W, 1]}, {"image": img})
    if graph == "embed":
        w = W_EMBED if channels == 1 else W_EMBED3
        return (_onnx(_linear("embedding", "w"), [_image(channels=channels)],
                      [_tensor("embedding", ["N", DIM])], {"w": w}),
                {"image": img}, {"embedding": [-1, DIM]})
    if graph == "verify":
        nodes = [helper.make_node("Flatten", ["image_a"], ["fa"], axis=1),
                 helper.make_node("Flatten", ["image_b"], ["fb"], axis=1),
                 helper.make_node("Sub", ["fa", "fb"], ["diff"]),
                 helper.make_node("ReduceSumSquare", ["diff"], ["score"], axes=[1], keepdims=0)]
        return (_onnx(nodes, [_image("image_a"), _image("image_b")], [_tensor("score", ["N"])]),
                {"image_a": img, "image_b": img}, {"score": [-1]})
    if graph == "classify":
        nodes = _linear("logits", "w") + [helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1)]
        return (_onnx(nodes, [_image()], [_tensor("probabilities", ["N", CLASSES])], {"w": W_CLASSIFY}),
                {"image": img}, {"probabilities": [-1, CLASSES]})
    if graph == "identify":
        return (_onnx(_linear("scores", "w"), [_image()], [_tensor("scores", ["N", CLASSES])],
                      {"w": W_CLASSIFY}),
                {"image": img}, {"scores": [-1, CLASSES]})
    if graph == "encode" and vae:
        nodes = _linear("mean", "wm") + [helper.make_node("MatMul", ["mean_flat", "wv"], ["log_var"])]
        return (_onnx(nodes, [_image()], [_tensor("mean", ["N", CODE]), _tensor("log_var", ["N", CODE])],
                      {"wm": W_ENCODE, "wv": W_LOG_VAR}),
                {"image": img}, {"mean": [-1, CODE], "log_var": [-1, CODE]})
    if graph == "encode":
        return (_onnx(_linear("code", "w"), [_image()], [_tensor("code", ["N", CODE])], {"w": W_ENCODE}),
                {"image": img}, {"code": [-1, CODE]})
    if graph == "decode":
        nodes = [helper.make_node("MatMul", ["code", "w"], ["flat"]),
                 helper.make_node("Sigmoid", ["flat"], ["pixels"]),
                 helper.make_node("Reshape", ["pixels", "shape"], ["image"])]
        return (_onnx(nodes, [_tensor("code", ["N", CODE])], [_image()],
                      {"w": W_DECODE, "shape": np.array([-1, H, W, 1], np.int64)}),
                {"code": [-1, CODE]}, {"image": img})
    if graph == "reconstruct":
        nodes = [helper.make_node("Mul", ["image", "half"], ["reconstruction"])]
        return (_onnx(nodes, [_image()], [_image("reconstruction")], {"half": np.array(0.5, np.float32)}),
                {"image": img}, {"reconstruction": img})
    raise ValueError(graph)


def write_artifact(folder, graphs=("embed",), *, invert=False, scale=SCALE, resize=(H, W),
                   channels=1, distance=None, threshold=None, vae=False, argmax=False,
                   classes=None):
    """Write GRAPH.onnx files and a schema-1 card.json with correct sha256."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    card_graphs, files = {}, {}
    for graph in graphs:
        data, inputs, outputs = build_graph(graph, channels=channels, vae=vae, argmax=argmax)
        (folder / f"{graph}.onnx").write_bytes(data)
        files[f"{graph}.onnx"] = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
        card_graphs[graph] = {"file": f"{graph}.onnx", "inputs": inputs, "outputs": outputs}
    card = {
        "schema": 1, "name": "tiny", "version": "1.0.0", "summary": "test", "task": "embedding",
        "preprocess": {"source": "uint8 grayscale HxW", "resize": list(resize) if resize else None,
                       "invert": invert, "scale": scale, "channels": channels},
        "graphs": card_graphs, "distance": distance, "threshold": threshold, "files": files,
    }
    if classes:
        card["classes"] = list(classes)
    (folder / "card.json").write_text(json.dumps(card, indent=1))
    return folder


def images(n=3, seed=1, size=(H, W)):
    return np.random.default_rng(seed).integers(0, 256, size=(n, *size), dtype=np.uint8)


def ref_input(x, invert=False, scale=SCALE):
    p = x.astype(np.float64)
    return ((255.0 - p) if invert else p) * scale


def ref_embed(x, **kw):
    return ref_input(x, **kw).reshape(len(x), -1) @ W_EMBED.astype(np.float64)


def test_import_and_inference_do_not_load_tensorflow(tmp_path):
    folder = write_artifact(tmp_path / "art", ("embed", "verify"),
                            threshold={"value": 1.0, "direction": "less"})
    code = textwrap.dedent(f"""
        import sys
        import numpy as np
        import zoo.runtime
        model = zoo.runtime.load({str(folder)!r}, intra_op_num_threads=1)
        x = np.zeros((2, 4, 4), np.uint8)
        assert model.embed(x).shape == (2, 3)
        score, match = model.verify(x, x)
        assert match.all()
        loaded = [m for m in ("tensorflow", "keras", "tf2onnx") if m in sys.modules]
        assert not loaded, loaded
    """)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_uint8_float_and_layouts_agree(tmp_path):
    model = runtime.load(write_artifact(tmp_path))
    x = images()
    expected = ref_embed(x)
    np.testing.assert_allclose(model.embed(x), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(model.embed(x / 255.0), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(model.embed(x[..., None].astype(np.float32) / 255), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(model.embed(x[0]), expected[:1], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(model.embed(x.astype(np.int64).tolist()), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("invert, scale", [(True, SCALE), (False, 1 / 127.5), (True, 2.0)])
def test_invert_and_scale(tmp_path, invert, scale):
    model = runtime.load(write_artifact(tmp_path, invert=invert, scale=scale))
    x = images()
    expected = ref_embed(x, invert=invert, scale=scale)
    np.testing.assert_allclose(model.embed(x), expected, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(model.embed(x / 255.0), expected, rtol=1e-5, atol=1e-4)


def test_gray_is_repeated_for_rgb_models(tmp_path):
    model = runtime.load(write_artifact(tmp_path, channels=3))
    x = images()
    rgb = np.repeat(x[..., None], 3, axis=-1)
    expected = ref_input(rgb).reshape(3, -1) @ W_EMBED3.astype(np.float64)
    np.testing.assert_allclose(model.embed(x), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(model.embed(rgb), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("bad, match", [
    (np.zeros(16, np.uint8), "rank 2, 3 or 4"),
    (np.zeros((1, 1, 4, 4, 1), np.uint8), "rank 2, 3 or 4"),
    (np.zeros((2, 5, 5), np.uint8), "must be 4x4.*resize=True"),
    (np.zeros((2, 4, 4, 2), np.uint8), "1 channel"),
    (np.array([["a", "b"], ["c", "d"]]), "file paths.*read_images.*dtype=<U1"),
    (["faces/alice.png", "faces/bob.png"], "file paths.*read_images.*dtype=<U15"),
    ("faces/alice.png", "file paths.*read_images.*dtype=<U15"),
    (Path("faces/alice.png"), "file paths.*read_images"),
    (np.array([1, "b"], object), "numeric.*dtype=object"),
    (np.zeros((2, 4, 4), object), "numeric.*dtype=object"),
    (np.zeros((2, 4, 4), bool), "numeric.*dtype=bool"),
    (np.full((1, 4, 4), np.nan), "NaN or inf"),
    (np.full((1, 4, 4), np.inf, np.float32), "NaN or inf"),
    (np.zeros((0, 4, 4), np.uint8), "empty batch"),
    (np.full((1, 4, 4), 1.5), r"\[0, 1\].*Divide.*max=1.5"),
    (np.full((1, 4, 4), -0.1), r"\[0, 1\].*min=-0.1"),
    (np.full((1, 4, 4), 300), r"\[0, 255\].*max=300"),
    ([np.zeros((4, 4)), np.zeros((3, 4))], "rectangular"),
])
def test_invalid_images(tmp_path, bad, match):
    model = runtime.load(write_artifact(tmp_path))
    with pytest.raises(ValueError, match=match) as info:
        model.embed(bad)
    assert "Received" in str(info.value)


def test_resize_only_when_asked_and_allowed(tmp_path):
    model = runtime.load(write_artifact(tmp_path / "a"))
    big = images(size=(8, 8))
    with pytest.raises(ValueError, match=r"4x4.*resize=True.*shape=\(3, 8, 8, 1\)"):
        model.embed(big)
    area = big.reshape(3, 4, 2, 4, 2).mean(axis=(2, 4))
    np.testing.assert_allclose(model.embed(big, resize=True), ref_embed(area), rtol=1e-5, atol=1e-4)
    small = images(size=(2, 2))
    nearest = small.repeat(2, axis=1).repeat(2, axis=2)
    np.testing.assert_allclose(model.embed(small, resize=True), ref_embed(nearest), rtol=1e-5, atol=1e-4)
    fixed = runtime.load(write_artifact(tmp_path / "b", resize=None))
    with pytest.raises(ValueError, match="does not allow resizing"):
        fixed.embed(big, resize=True)


@pytest.mark.parametrize("direction", ["greater", "less"])
def test_verify_graph_threshold_directions(tmp_path, direction):
    model = runtime.load(write_artifact(tmp_path, ("verify",),
                                        threshold={"value": 2.0, "direction": direction}))
    a, b = images(6, seed=1), images(6, seed=2)
    b[:3] = a[:3]
    expected = ((ref_input(a) - ref_input(b)) ** 2).reshape(6, -1).sum(axis=1)
    score, is_match = model.verify(a, b)
    assert score.shape == (6,) and is_match.dtype == bool
    np.testing.assert_allclose(score, expected, rtol=1e-5)
    np.testing.assert_array_equal(is_match, expected >= 2.0 if direction == "greater" else expected <= 2.0)
    _, overridden = model.verify(a, b, threshold=0.0)
    np.testing.assert_array_equal(overridden, expected >= 0 if direction == "greater" else expected <= 0)
    with pytest.raises(ValueError, match="len\\(images_b\\)=2"):
        model.verify(a, b[:2])


@pytest.mark.parametrize("distance, direction", [("cosine", "greater"), ("euclidean", "less")])
def test_embed_only_verify_matches_numpy(tmp_path, distance, direction):
    model = runtime.load(write_artifact(tmp_path, distance=distance,
                                        threshold={"value": 0.5, "direction": direction}))
    a, b = images(8, seed=3), images(8, seed=4)
    ea, eb = ref_embed(a), ref_embed(b)
    if distance == "cosine":
        expected = (ea * eb).sum(1) / (np.linalg.norm(ea, axis=1) * np.linalg.norm(eb, axis=1))
    else:
        expected = np.sqrt(((ea - eb) ** 2).sum(1))
    score, is_match = model.verify(a, b)
    np.testing.assert_allclose(score, expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(is_match, expected >= 0.5 if direction == "greater" else expected <= 0.5)


def test_verify_needs_a_way_to_score_and_a_threshold(tmp_path):
    no_distance = runtime.load(write_artifact(tmp_path / "a", threshold={"value": 0, "direction": "less"}))
    with pytest.raises(ArtifactError, match="needs a 'verify' graph.*distance=None"):
        no_distance.verify(images(), images())
    no_threshold = runtime.load(write_artifact(tmp_path / "b", distance="cosine"))
    with pytest.raises(ArtifactError, match="no threshold"):
        no_threshold.verify(images(), images())
    thresholded = runtime.load(write_artifact(tmp_path / "c", distance="cosine",
                                              threshold={"value": 0, "direction": "greater"}))
    with pytest.raises(ValueError, match="threshold='high'"):
        thresholded.verify(images(), images(), threshold="high")


def test_classify_encode_decode_reconstruct(tmp_path):
    model = runtime.load(write_artifact(tmp_path, ("classify", "encode", "decode", "reconstruct")))
    x = images()
    logits = ref_input(x).reshape(3, -1) @ W_CLASSIFY.astype(np.float64)
    softmax = np.exp(logits - logits.max(1, keepdims=True))
    np.testing.assert_allclose(model.classify(x), softmax / softmax.sum(1, keepdims=True), rtol=1e-4, atol=1e-6)
    code = model.encode(x)
    np.testing.assert_allclose(code, ref_input(x).reshape(3, -1) @ W_ENCODE, rtol=1e-4, atol=1e-4)
    decoded = model.decode(code)
    expected = 1 / (1 + np.exp(-(code.astype(np.float64) @ W_DECODE)))
    np.testing.assert_allclose(decoded, expected.reshape(3, H, W, 1), rtol=1e-5, atol=1e-6)
    assert model.decode(code[0]).shape == (1, H, W, 1)
    np.testing.assert_allclose(model.reconstruct(x), 0.5 * ref_input(x)[..., None], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("code, match", [
    (np.zeros((2, 3)), r"\(N, 2\).*shape=\(2, 3\)"),
    (np.zeros((0, 2)), r"\(N, 2\).*shape=\(0, 2\)"),
    (np.zeros((2, 2, 1)), r"\(N, 2\).*shape=\(2, 2, 1\)"),
    (np.array([[np.nan, 0.0]]), "NaN or inf"),
    (np.array([["a", "b"]]), "numeric"),
])
def test_decode_checks_the_code(tmp_path, code, match):
    model = runtime.load(write_artifact(tmp_path, ("decode",)))
    with pytest.raises(ValueError, match=match):
        model.decode(code)


def test_identify_names_the_best_class_or_unknown(tmp_path):
    x = images(8)
    expected = ref_input(x).reshape(8, -1) @ W_CLASSIFY.astype(np.float64)
    best = expected.max(axis=1)
    cut = float(np.median(best))
    names = [f"p{c}" for c in range(CLASSES)]
    model = runtime.load(write_artifact(tmp_path, ("identify",), classes=names,
                                        threshold={"value": cut, "direction": "greater"}))
    assert model.classes == names
    people, scores = model.identify(x)
    np.testing.assert_allclose(scores, expected, rtol=1e-4, atol=1e-4)
    want = [names[c] if b >= cut else "unknown" for c, b in zip(expected.argmax(1), best)]
    assert people == want and "unknown" in people and set(people) != {"unknown"}
    everyone, _ = model.identify(x, threshold=float(best.min()) - 1)
    assert everyone == [names[c] for c in expected.argmax(1)]


def test_identify_falls_back_to_classify_probabilities(tmp_path):
    x = images(8)
    names = [f"p{c}" for c in range(CLASSES)]
    model = runtime.load(write_artifact(tmp_path, ("classify",), classes=names,
                                        threshold={"value": 0.5, "direction": "greater"}))
    people, scores = model.identify(x)
    np.testing.assert_allclose(scores, model.classify(x))
    assert people == [names[c] if p >= 0.5 else "unknown"
                      for c, p in zip(scores.argmax(1), scores.max(1))]


def test_decode_takes_extra_inputs_from_encode(tmp_path):
    """A cae_unpool-like artifact: decode(**encode(x)) with an int64 extra."""
    model = runtime.load(write_artifact(tmp_path, ("encode", "decode"), argmax=True))
    x = images()
    encoded = model.encode(x)
    assert sorted(encoded) == ["argmax_1", "code"] and encoded["argmax_1"].dtype == np.int64
    mask = ref_input(x)[..., None] > 0.5
    np.testing.assert_array_equal(encoded["argmax_1"], mask)
    dense = 1 / (1 + np.exp(-(encoded["code"].astype(np.float64) @ W_DECODE)))
    np.testing.assert_allclose(model.decode(**encoded), dense.reshape(3, H, W, 1) * mask,
                               rtol=1e-5, atol=1e-6)
    one = model.decode(encoded["code"][0], argmax_1=encoded["argmax_1"][0])
    np.testing.assert_allclose(one, model.decode(**encoded)[:1], rtol=1e-6)
    # run() keeps int64 inputs as integers.
    out = model.run("decode", code=encoded["code"], argmax_1=encoded["argmax_1"].astype(np.int32))
    np.testing.assert_allclose(out["image"], model.decode(**encoded), rtol=1e-6)


@pytest.mark.parametrize("extra, match", [
    ({}, r"\(missing: \['argmax_1'\].*model\.encode\(images\).*inputs=\['code'\]"),
    ({"argmax_1": np.zeros((3, H, W, 1), np.int64), "argmax_2": 0}, r"unknown: \['argmax_2'\]"),
    ({"argmax_1": np.zeros((2, H, W, 1), np.int64)}, r"shaped \(3, 4, 4, 1\).*shape=\(2, 4, 4, 1\)"),
    ({"argmax_1": np.zeros((3, H, W), np.int64)}, r"shaped \(3, 4, 4, 1\).*shape=\(3, 4, 4\)"),
    ({"argmax_1": np.zeros((3, H, W, 1), np.float32)}, r"must hold integers \(int64\).*dtype=float32"),
    ({"argmax_1": np.full((3, H, W, 1), -1)}, r"indices, which must be >= 0.*min=-1"),
])
def test_decode_checks_the_extra_inputs(tmp_path, extra, match):
    model = runtime.load(write_artifact(tmp_path, ("decode",), argmax=True))
    with pytest.raises(ValueError, match=match):
        model.decode(np.zeros((3, CODE)), **extra)


def test_decode_without_extras_refuses_them(tmp_path):
    model = runtime.load(write_artifact(tmp_path, ("decode",)))
    with pytest.raises(ValueError, match=r"takes \['code'\] \(missing: \[\], unknown: \['argmax_1'\]"):
        model.decode(np.zeros((1, CODE)), argmax_1=np.zeros((1, H, W, 1), np.int64))
    with pytest.raises(ValueError, match="Input 'code' must be numeric"):
        model.run("decode", code=np.array([["a", "b"]]))


def test_run_refuses_floats_for_an_int64_input(tmp_path):
    model = runtime.load(write_artifact(tmp_path, ("decode",), argmax=True))
    with pytest.raises(ValueError, match=r"Input 'argmax_1' must be integer \(int64\).*float64"):
        model.run("decode", code=np.zeros((1, CODE)), argmax_1=np.zeros((1, H, W, 1)))


def test_vae_encode_returns_mean_and_log_var(tmp_path):
    model = runtime.load(write_artifact(tmp_path, ("encode",), vae=True))
    out = model.encode(images())
    assert sorted(out) == ["log_var", "mean"]
    assert out["mean"].shape == out["log_var"].shape == (3, CODE)


def test_missing_graph_names_the_available_ones(tmp_path):
    model = runtime.load(write_artifact(tmp_path))
    for call in (model.classify, model.encode, model.reconstruct, model.decode):
        with pytest.raises(ArtifactError, match=r"Available graphs: \['embed'\]"):
            call(images())


def test_run_is_generic_and_checks_input_names(tmp_path):
    model = runtime.load(write_artifact(tmp_path, ("embed", "verify")))
    x = ref_input(images())[..., None]
    out = model.run("embed", image=x)
    assert list(out) == ["embedding"]
    np.testing.assert_allclose(out["embedding"], ref_embed(images()), rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match=r"\['image_a', 'image_b'\].*inputs=\['image'\]"):
        model.run("verify", image=x)
    with pytest.raises(ArtifactError, match="no 'decode' graph"):
        model.run("decode", code=np.zeros((1, 2)))


def test_tampered_onnx_is_rejected(tmp_path):
    folder = write_artifact(tmp_path)
    data = bytearray((folder / "embed.onnx").read_bytes())
    expected = hashlib.sha256(data).hexdigest()
    data[-1] ^= 0xFF
    (folder / "embed.onnx").write_bytes(bytes(data))
    with pytest.raises(hub.IntegrityError) as info:
        runtime.load(folder)
    message = str(info.value)
    assert "embed.onnx" in message and expected in message
    assert hashlib.sha256(data).hexdigest() in message


def test_card_problems_are_artifact_errors(tmp_path):
    with pytest.raises(ArtifactError, match="No card.json"):
        runtime.load(tmp_path)
    with pytest.raises(ArtifactError, match="no such folder"):
        runtime.load(str(tmp_path / "missing" / "dir"))
    folder = write_artifact(tmp_path / "a")
    card = json.loads((folder / "card.json").read_text())

    def rewrite(**changes):
        (folder / "card.json").write_text(json.dumps({**card, **changes}))

    rewrite(schema=2)
    with pytest.raises(ArtifactError, match="schema=2"):
        runtime.load(folder)
    rewrite(files={})
    with pytest.raises(hub.IntegrityError, match="lists no sha256 for 'embed.onnx'"):
        runtime.load(folder)
    graphs = json.loads(json.dumps(card["graphs"]))
    graphs["embed"]["outputs"] = {"features": [-1, DIM]}
    rewrite(graphs=graphs)
    with pytest.raises(ArtifactError, match=r"\['embedding'\].*\['features'\]"):
        runtime.load(folder)
    rewrite(threshold={"value": 1, "direction": "up"})
    with pytest.raises(ArtifactError, match="threshold="):
        runtime.load(folder)


@pytest.mark.parametrize("threads", [0, -1, 1.5, True])
def test_bad_thread_count(tmp_path, threads):
    with pytest.raises(ValueError, match="intra_op_num_threads="):
        runtime.load(write_artifact(tmp_path), intra_op_num_threads=threads)


def test_session_options_are_the_measured_best():
    """`python -m benchmarks.serving` (ONNX tuning table) found nothing
    faster than all graph optimisations (the NCHWc conv layout comes only
    with ORT_ENABLE_ALL), sequential execution (parallel execution is far
    slower at batch 1) and onnxruntime's own thread count."""
    import onnxruntime as ort

    from zoo.runtime.model import session_options

    options = session_options()
    assert options.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    assert options.execution_mode == ort.ExecutionMode.ORT_SEQUENTIAL
    assert options.intra_op_num_threads == 0  # onnxruntime decides: one per physical core
    assert session_options(intra_op_num_threads=1).intra_op_num_threads == 1


def test_load_by_registry_name_pulls_card_and_onnx_only(tmp_path, monkeypatch):
    served = tmp_path / "served"
    folder = write_artifact(served / "rt_tiny", ("embed",), distance="euclidean",
                            threshold={"value": 1.0, "direction": "less"})
    (folder / "model.keras").write_bytes(b"not needed")
    weights = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}
    spec = ModelSpec(name="rt_tiny", builder="zoo.models.graphs:graph_model", task="embedding",
                     covers="test", summary="test", input_shape=(H, W, 1), graphs=("embed",),
                     dataset="none", weights=weights, distance="euclidean")
    registry.names()
    monkeypatch.setitem(registry._REGISTRY, "rt_tiny", spec)
    monkeypatch.setenv("ZOO_WEIGHTS_URL", served.as_uri())
    monkeypatch.setenv("ZOO_HOME", str(tmp_path / "cache"))
    model = runtime.load("rt_tiny")
    assert model.folder == tmp_path / "cache" / "rt_tiny" / "1.0.0"
    assert sorted(p.name for p in model.folder.iterdir()) == ["card.json", "embed.onnx"]
    np.testing.assert_allclose(model.embed(images()), ref_embed(images()), rtol=1e-5, atol=1e-5)
