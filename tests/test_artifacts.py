"""Every published artifact in saved_models/ against its card and registry."""

import json
from pathlib import Path

import numpy as np
import pytest

import zoo
from zoo.export.publish import check_artifact
from zoo.io import sha256_file

SAVED = Path(__file__).resolve().parents[1] / "saved_models"
PUBLISHED = [n for n in zoo.list_models() if zoo.info(n).pretrained]
MAX_BYTES, MAX_TOTAL = 5 * 2**20, 80 * 2**20  # 20 entries; the repo stays clonable


def _committed_files(folder):
    spec = zoo.info(folder.name)
    built = set(spec.derived["builds"]) if spec.derived else set()  # gitignored, built by zoo pull
    return [p for p in folder.rglob("*") if p.is_file() and "savedmodel" not in p.parts
            and p.relative_to(folder).as_posix() not in built]


def test_every_artifact_folder_is_registered():
    folders = sorted(p.name for p in SAVED.iterdir() if p.is_dir()) if SAVED.exists() else []
    assert folders == sorted(PUBLISHED)


def test_total_size_is_within_budget():
    total = sum(p.stat().st_size for name in PUBLISHED for p in _committed_files(SAVED / name))
    assert total <= MAX_TOTAL


@pytest.mark.parametrize("name", PUBLISHED)
def test_artifact_matches_registry_and_card(name):
    spec, folder = zoo.info(name), SAVED / name
    card = json.loads((folder / "card.json").read_text())
    assert card["name"] == name and card["version"] == spec.version
    assert sorted(card["graphs"]) == sorted(spec.graphs)
    assert set(spec.sizes) == set(spec.weights)
    for file, digest in spec.weights.items():
        assert sha256_file(folder / file) == digest, file
        assert (folder / file).stat().st_size == spec.sizes[file], file
    assert sum(p.stat().st_size for p in _committed_files(folder)) <= MAX_BYTES
    assert card["metrics"], "a published card needs measured metrics"
    model = zoo.create(name)
    assert card["params"] == model.count_params()


@pytest.mark.parametrize("name", PUBLISHED)
def test_zoo_check_passes(name, zoo_cache, monkeypatch):
    folder = SAVED / name
    if zoo.info(name).derived:  # only card, test_data and PNGs are published: build, then check
        from zoo import hub

        monkeypatch.setenv("ZOO_HOME", str(zoo_cache))
        folder = hub.pull(name)
    report = check_artifact(folder)
    assert report.ok, report.table()
    # Both ONNX engines ran: onnxruntime and onnx's ReferenceEvaluator.
    assert all({"onnxruntime", "onnx.reference"} <= set(g.errors) for g in report.graphs.values())


@pytest.mark.parametrize("name", PUBLISHED)
def test_onnx_graphs_load_in_strict_runtimes(name, zoo_cache, monkeypatch):
    """What tract and onnx2torch refused: an unused ai.onnx.ml import, a
    Reshape target computed from Shape although only the batch varies,
    MaxPool's optional Indices output, a no-op Slice (face_id_knn's head)."""
    import onnx

    folder = SAVED / name
    if zoo.info(name).derived:
        from zoo import hub

        monkeypatch.setenv("ZOO_HOME", str(zoo_cache))
        folder = hub.pull(name)
    card = json.loads((folder / "card.json").read_text())
    for graph in card["graphs"]:
        proto = onnx.load(str(folder / f"{graph}.onnx"))
        ops = [n.op_type for n in proto.graph.node]
        assert [o.domain for o in proto.opset_import] == [""], graph
        assert all(len(n.output) == 1 for n in proto.graph.node if n.op_type == "MaxPool"), graph
        if all(d > 0 for shape in card["graphs"][graph]["inputs"].values() for d in shape[1:]):
            constants = {t.name for t in proto.graph.initializer}
            assert all(n.input[1] in constants for n in proto.graph.node if n.op_type == "Reshape")
        if name == "face_id_knn":
            assert "Slice" not in ops


@pytest.mark.parametrize("name", PUBLISHED)
def test_pretrained_keras_and_deployed_onnx_agree(name, zoo_cache, monkeypatch):
    """zoo.load (hub, sha256, safe_mode) and zoo.runtime (ONNX only) give the
    same outputs on real images for every graph, within the card's atol."""
    from zoo.export.parity import reference_outputs
    from zoo.export.publish import real_inputs
    from zoo import runtime

    monkeypatch.setenv("ZOO_HOME", str(zoo_cache))
    monkeypatch.setenv("ZOO_WEIGHTS_URL", SAVED.as_uri())
    spec = zoo.info(name)
    model = zoo.load(name)
    deployed = runtime.load(name)
    card = json.loads((SAVED / name / "card.json").read_text())
    for graph, feed in real_inputs(spec, model).items():
        expected = reference_outputs(model, graph, feed)
        got = deployed.run(graph, **feed)
        for key, value in expected.items():
            np.testing.assert_allclose(got[key], value, atol=card["parity"][graph]["atol"])
