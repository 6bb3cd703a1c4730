"""Publishing a run as an artifact: atomic, parity-gated, verifiable."""

import json
import os

import numpy as np
import pytest

import zoo
from zoo.export import publish as pub
from zoo.export.parity import ParityReport, GraphParity
from zoo.training.recipes.common import save_result

SPEC = zoo.info("fmnist_cnn")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("run")
    model = zoo.create("fmnist_cnn", **SPEC.tiny)
    save_result(folder, model, metrics={"test": {"accuracy": 0.1}}, seconds=1.0, epochs=1,
                seed=0, dataset={"name": "fashion_mnist", "train": "none", "eval": "test"})
    return folder


@pytest.fixture(scope="module")
def artifact(run_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("published") / "fmnist_cnn"
    report = pub.publish(SPEC, run_dir, out, formats=("onnx", "savedmodel"))
    assert report.ok, report.table()
    return out


def test_artifact_follows_the_contract(artifact):
    card = json.loads((artifact / "card.json").read_text())
    assert card["schema"] == 1 and card["name"] == "fmnist_cnn"
    assert card["graphs"]["classify"] == {
        "file": "classify.onnx",
        "inputs": {"image": [-1, 28, 28, 1]},
        "outputs": {"probabilities": [-1, 10]},
    }
    for name, entry in card["files"].items():
        assert entry["bytes"] == (artifact / name).stat().st_size
    assert card["parity"]["classify"]["max_abs_err"] <= 1e-5
    assert card["parity"]["classify"]["batch_sizes"] == [1, 3, 64]
    assert card["params"] == zoo.create("fmnist_cnn", **SPEC.tiny).count_params()
    assert (artifact / "test_data" / "classify" / "input_0.pb").exists()
    assert (artifact / "test_data" / "classify" / "output_0.pb").exists()
    assert (artifact / "savedmodel" / "saved_model.pb").exists()
    leftovers = [p.name for p in artifact.parent.iterdir() if p.name.startswith(".")]
    assert leftovers == []


def test_onnx_metadata_names_the_weights(artifact):
    import onnx

    props = {p.key: p.value for p in onnx.load(artifact / "classify.onnx").metadata_props}
    card = json.loads((artifact / "card.json").read_text())
    assert props["zoo.name"] == "fmnist_cnn"
    assert props["zoo.weights_sha256"] == card["files"]["model.keras"]["sha256"]
    assert json.loads(props["zoo.preprocess"])["scale"] == pytest.approx(1 / 255)


def test_check_artifact_passes_and_reruns_test_data(artifact):
    report = pub.check_artifact(artifact)
    # onnx's ReferenceEvaluator is the second ONNX engine of `zoo check`.
    assert report.ok and {"onnxruntime", "onnx.reference"} <= set(report.graphs["classify"].errors)


def test_existing_artifact_needs_force(run_dir, artifact):
    with pytest.raises(pub.PublishError, match="--force"):
        pub.publish(SPEC, run_dir, artifact)


def test_failed_parity_publishes_nothing_and_keeps_the_old(run_dir, tmp_path, monkeypatch):
    out = tmp_path / "fmnist_cnn"
    assert pub.publish(SPEC, run_dir, out).ok
    card_before = (out / "card.json").read_bytes()
    failing = ParityReport({"classify": GraphParity("classify", 1e-5, None, (1,), {"onnxruntime": (1.0, 1.0)})})
    monkeypatch.setattr(pub, "check", lambda *a, **k: failing)
    report = pub.publish(SPEC, run_dir, out, force=True)
    assert not report.ok
    assert (out / "card.json").read_bytes() == card_before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fmnist_cnn"]


def test_tampered_file_fails_the_check(artifact, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(artifact, copy)
    with open(copy / "classify.onnx", "r+b") as f:
        f.seek(-8, os.SEEK_END)
        f.write(b"\x00" * 8)
    with pytest.raises(pub.PublishError, match=r"classify.onnx does not match its card"):
        pub.check_artifact(copy)


def test_tampered_test_data_fails_the_check(artifact, tmp_path):
    import shutil

    import onnx
    from onnx import numpy_helper

    copy = tmp_path / "copy"
    shutil.copytree(artifact, copy)
    path = copy / "test_data" / "classify" / "output_0.pb"
    tensor = onnx.TensorProto()
    tensor.ParseFromString(path.read_bytes())
    values = numpy_helper.to_array(tensor) + 0.5
    path.write_bytes(numpy_helper.from_array(values, tensor.name).SerializeToString())
    with pytest.raises(pub.PublishError, match="no longer reproduces"):
        pub.check_artifact(copy)


def test_publishing_into_saved_models_records_the_hashes(run_dir, tmp_path, monkeypatch):
    repo = tmp_path / "repo"
    (repo / "zoo").mkdir(parents=True)
    (repo / "zoo" / "weights.json").write_text("{}")
    monkeypatch.setattr(pub, "REPO", repo)
    monkeypatch.setattr(pub, "WEIGHTS_JSON", repo / "zoo" / "weights.json")
    out = repo / "saved_models" / "fmnist_cnn"
    assert pub.publish(SPEC, run_dir, out).ok
    recorded = json.loads((repo / "zoo" / "weights.json").read_text())["fmnist_cnn"]
    card = json.loads((out / "card.json").read_text())
    tests = {p.relative_to(out).as_posix() for p in out.glob("test_data/*/*.pb")}
    assert tests and set(recorded) == set(card["files"]) | {"card.json"} | tests
    from zoo.io import sha256_file

    for name, entry in recorded.items():
        assert sha256_file(out / name) == entry["sha256"]
        assert (out / name).stat().st_size == entry["bytes"]


def test_runtime_matches_keras_on_the_artifact(artifact):
    import keras

    from zoo import runtime

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (5, 28, 28), dtype=np.uint8)
    onnx_probs = runtime.load(artifact).classify(images)
    model = keras.saving.load_model(artifact / "model.keras", safe_mode=True)
    keras_probs = model(images[..., None].astype("float32") / 255.0, training=False)
    np.testing.assert_allclose(onnx_probs, np.asarray(keras_probs), atol=1e-5)
