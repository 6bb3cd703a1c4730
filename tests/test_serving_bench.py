"""The serving benchmark's machinery on tiny freshly built models (no timing asserts).

Two tiny zoo models are exported to ONNX and a SavedModel in a temp folder,
with a hand-written card: `siamese_contrastive` (an `embed` graph and a
two-input `verify` graph) and `cae_unpool` (a `decode` graph whose extra
inputs are int64 argmax indices). Every engine must give the Keras outputs.
"""

import json

import numpy as np
import pytest

from zoo import backend  # noqa: F401

import keras

import zoo
from benchmarks import onnx_tuning, serving, timing
from benchmarks.flops import count_flops, peak_gflops
from zoo.export.card import file_entries, onnx_io
from zoo.export.onnx import export_onnx
from zoo.export.parity import side_inputs
from zoo.export.savedmodel import export_savedmodel, load_savedmodel_signatures
from zoo.export.signatures import input_specs
from zoo.models.graphs import extra_names
from zoo.runtime import RuntimeModel

TINY = {"siamese_contrastive": {"widths": (4, 8)}, "cae_unpool": {"widths": (4, 8), "code_size": 4}}
ROWS = 40  # > onnx_tuning.CALIBRATION_ROWS


def _artifact(name, folder):
    """A tiny `name` exported to `folder` with a minimal card, its SavedModel
    signatures and a `RuntimeModel`."""
    keras.utils.set_random_seed(0)
    model = zoo.create(name, **TINY[name])
    graphs = list(zoo.info(name).graphs)
    files = []
    for graph in graphs:
        export_onnx(model, graph, folder / f"{graph}.onnx", {"zoo.name": name})
        files.append(f"{graph}.onnx")
    card = {"schema": 1, "name": name, "preprocess": {}, "distance": "cosine",
            "threshold": {"value": 0.5, "direction": "greater"},
            "graphs": {g: {"file": f"{g}.onnx", **onnx_io(folder / f"{g}.onnx")} for g in graphs},
            "files": file_entries(folder, files)}
    (folder / "card.json").write_text(json.dumps(card))
    signatures = load_savedmodel_signatures(export_savedmodel(model, graphs, folder / "savedmodel"))
    return model, card, signatures, RuntimeModel(folder)


def _feed(model, graph, rows=ROWS):
    """Random real-shaped inputs; extra inputs (argmax) from encode of random images."""
    rng = np.random.default_rng(0)
    extras = extra_names(model, graph, "inputs")
    feed = {s.name: rng.uniform(0, 1, (rows, *s.shape[1:])).astype(np.float32)
            for s in input_specs(model, graph) if s.name not in extras}
    if extras:
        images = rng.uniform(0, 1, (rows, *input_specs(model, "encode")[0].shape[1:]))
        feed.update(side_inputs(model, graph, images.astype(np.float32)))
    return feed


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory):
    return {name: _artifact(name, tmp_path_factory.mktemp(name)) for name in TINY}


@pytest.fixture(scope="module")
def results(artifacts):
    out = []
    for name, (model, card, signatures, runtime) in artifacts.items():
        for graph in card["graphs"]:
            out.append(serving.bench_graph(name, graph, model, runtime, signatures,
                                           _feed(model, graph), repeats=2))
    return out


def test_every_engine_gives_the_keras_outputs(results):
    for r in results:
        assert set(r.latency) | set(r.failed) == set(serving.ENGINES), r.label
        # XLA has no kernel for MaxPoolWithArgmax, so it may fail on the
        # argmax encoder; every other engine must run every graph.
        assert set(r.failed) <= {"xla"}, (r.label, r.failed)
        for engine, (abs_err, mismatch) in r.errors.items():
            assert abs_err <= serving.AGREEMENT_ATOL, (r.label, engine, abs_err)
            assert mismatch in (None, 0.0), (r.label, engine, mismatch)
    encode = next(r for r in results if r.model == "cae_unpool" and r.graph == "encode")
    assert encode.errors["onnx"][1] == 0.0  # its int64 argmax outputs were compared


def test_timings_cover_both_batches(results):
    for r in results:
        assert all(t.batch == 1 and len(t.seconds) == 3 for t in r.latency.values())
        assert all(t.batch == ROWS and t.throughput > 0 for t in r.throughput.values())
        assert r.flops > 0


def test_report_tables(results):
    text = serving.report(results, {"peak": 100.0, "numpy": 100.0, "onnxruntime": 90.0}, repeats=2)
    assert text.startswith("### Serving speed")
    tables = [block for block in text.split("\n\n") if block.startswith("|")]
    targets, latency, throughput = tables[:3]
    assert len(targets.splitlines()) == 2 + 3
    for table in (latency, throughput):
        header, _, *rows = table.splitlines()
        assert all(f" {engine} |" in header for engine in serving.ENGINES)
        assert [tuple(c.strip() for c in row.split("|")[1:3]) for row in rows] == \
            [(r.model, r.graph) for r in results]
        assert all(row.count("|") == header.count("|") for row in rows)


def test_plots_are_written(results, tmp_path):
    for kind in serving.PLOTS:
        path = serving.plot(results, kind, tmp_path / f"{kind}.png")
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="kind="):
        serving.plot(results, "memory", tmp_path / "x.png")


def test_onnx_tuning_rows(artifacts, tmp_path):
    model, card, _, runtime = artifacts["siamese_contrastive"]
    tuning = onnx_tuning.Tuning(repeats=2)
    tuning.add("siamese_contrastive", "embed", runtime.folder / "embed.onnx", card,
               _feed(model, "embed"), tmp_path)
    (_, _, timings), = tuning.configs
    assert set(timings) == set(onnx_tuning.SESSION_CONFIGS)
    assert [row[2] for row in tuning.variants] == list(onnx_tuning.VARIANTS)
    for row in tuning.variants:
        assert not row[-1].startswith("failed"), row
        assert 0.0 <= float(row[8]) <= 1.0  # nearest-neighbour agreement
    report = tuning.report()
    assert all(config in report for config in onnx_tuning.SESSION_CONFIGS)


def test_count_flops_by_hand():
    """4x4x1 image -> Conv2D(2, 3x3, valid) -> 2x2x2 -> Flatten (8) -> Dense(3).

    Conv: 2*2*2 outputs x 3*3*1 MACs = 72 MACs = 144 FLOPs; its bias adds 8.
    Dense: 8 x 3 = 24 MACs = 48 FLOPs; its bias adds 3. Total 203; 192 without biases.
    """
    for bias, expected in ((False, 192), (True, 203)):
        image = keras.Input((4, 4, 1), name="image")
        x = keras.layers.Conv2D(2, 3, use_bias=bias)(image)
        x = keras.layers.Dense(3, use_bias=bias)(keras.layers.Flatten()(x))
        assert count_flops(keras.Model(image, x), "classify") == expected


def test_count_flops_counts_a_shared_tower_twice(artifacts):
    model = artifacts["siamese_contrastive"][0]
    assert count_flops(model, "verify") >= 2 * count_flops(model, "embed")


def test_peak_gflops_small():
    rates = peak_gflops(size=64, repeats=1)
    assert rates["peak"] == max(rates["numpy"], rates["onnxruntime"]) > 0


def test_agreement_by_hand():
    card = {"distance": "cosine", "threshold": {"value": 0.5, "direction": "greater"}}
    probabilities = {"probabilities": np.array([[0.9, 0.1], [0.4, 0.6]])}
    flipped = {"probabilities": np.array([[0.9, 0.1], [0.6, 0.4]])}
    assert onnx_tuning.agreement("classify", probabilities, flipped, card) == 0.5
    score, other = {"score": np.array([0.2, 0.7, 0.9])}, {"score": np.array([0.6, 0.7, 0.4])}
    assert onnx_tuning.agreement("verify", score, other, card) == pytest.approx(1 / 3)
    embedding = {"embedding": np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]])}
    assert onnx_tuning.agreement("embed", embedding, embedding, card) == 1.0
    assert onnx_tuning.agreement("decode", {"image": np.zeros(2)}, {"image": np.ones(2)}, card) is None


def test_measure_and_warm_up():
    calls = []
    ready, failed = timing.warm_up({"ok": calls.append, "bad": lambda feed: 1 / 0},
                                   [{"x": np.zeros(2)}], calls=2)
    assert list(ready) == ["ok"] and failed["bad"].startswith("ZeroDivisionError")
    result = timing.measure(ready, {"x": np.zeros(5)}, repeats=4, rounds=3)
    assert len(result["ok"].seconds) == 6 and result["ok"].batch == 5 and len(calls) == 8
    with pytest.raises(ValueError, match="repeats=0"):
        timing.measure(ready, {"x": np.zeros(1)}, repeats=0)


def test_published_names():
    assert "fmnist_cnn" in serving.published()
    with pytest.raises(ValueError, match="nope"):
        serving.published(["fmnist_cnn", "nope"])
