"""Parity of exported artifacts against Keras, and ONNX-zoo style test data.

Error definitions, per graph and engine, taken as the maximum over every
output tensor, every batch size and the optional real inputs:

- `max_abs_err` = max |engine - keras|.
- `max_rel_err` = max |engine - keras| / max(max |keras|, tiny): the worst
  absolute error relative to the largest reference magnitude of that
  tensor (element-wise ratios would explode on outputs near zero).
- `index_mismatch`, for integer outputs (cae_unpool's argmax indices),
  which are not compared by value: the fraction of their elements that
  differ from Keras, over every integer output and every feed. Where two
  values of a pooling window are equal up to float32 rounding, each engine
  may pick a different maximum (seen: 1 index in 200,704 on random images),
  so up to `MAX_INDEX_MISMATCH` is allowed.

A shape mismatch or a NaN counts as an infinite error (a fully mismatched
integer output).

Engines: the reloaded SavedModel, onnxruntime and onnx's own
`ReferenceEvaluator` (`onnx.reference`, engine "onnx.reference"), which runs
the ONNX operator definitions in NumPy. It is a second, independent reading of
the same file, and slow (about 5 s per 150x150 face chip), so it runs on the
first `REFERENCE_ROWS` rows of every feed only, and on a single row once a
graph takes longer than `REFERENCE_SLOW_SECONDS` per row; the card records
those rows per feed (`reference_rows`).
"""

from zoo import backend  # noqa: F401  (pins the TF backend before Keras)

import dataclasses
import math
import time
from pathlib import Path
from typing import Mapping

import numpy as np
import onnx
import onnxruntime
from onnx.reference import ReferenceEvaluator

from zoo.export.savedmodel import load_savedmodel_signatures
from zoo.export.signatures import input_specs, keras_input_names
from zoo.models.graphs import concrete_shape, extra_names, graph_model, output_names

DEFAULT_ATOL = 1e-5
MAX_INDEX_MISMATCH = 1e-4
REFERENCE_ENGINE = "onnx.reference"
REFERENCE_ROWS = 3
REFERENCE_SLOW_SECONDS = 1.0
_TINY = float(np.finfo(np.float32).tiny)


@dataclasses.dataclass(frozen=True)
class GraphParity:
    """Errors of one graph: `errors[engine] = (max_abs_err, max_rel_err)` and,
    when it has integer outputs, `index_mismatch[engine]` (a fraction)."""

    graph: str
    atol: float
    atol_reason: str | None
    batch_sizes: tuple
    errors: Mapping[str, tuple]
    index_mismatch: Mapping[str, float] = dataclasses.field(default_factory=dict)
    # engine -> the most rows it ran per feed, for an engine that runs fewer
    # rows than the feeds hold (the reference evaluator).
    rows: Mapping[str, int] = dataclasses.field(default_factory=dict)
    # engine -> EngineTolerance, for an engine held to its own, reasoned limits.
    engine_tolerances: Mapping[str, "EngineTolerance"] = dataclasses.field(default_factory=dict)

    def limits(self, engine):
        """(atol, max index mismatch) that `engine` is held to."""
        own = self.engine_tolerances.get(engine)
        return (own.atol, own.max_index_mismatch) if own else (self.atol, MAX_INDEX_MISMATCH)

    def engine_ok(self, engine):
        atol, max_index = self.limits(engine)
        return self.errors[engine][0] <= atol and self.index_mismatch.get(engine, 0.0) <= max_index

    def _common(self):
        return [e for e in self.errors if e not in self.engine_tolerances] or list(self.errors)

    @property
    def max_abs_err(self):
        """Over the engines held to the graph's `atol`."""
        return max(self.errors[e][0] for e in self._common())

    @property
    def max_rel_err(self):
        return max(self.errors[e][1] for e in self._common())

    @property
    def ok(self):
        return all(self.engine_ok(e) for e in self.errors)


@dataclasses.dataclass(frozen=True)
class EngineTolerance:
    """Limits of one engine on one graph that differ from the graph's, with
    the reason the card stores (e.g. the reference evaluator breaking exact
    ties of cae_unpool's pooling windows)."""

    atol: float
    max_index_mismatch: float
    reason: str


@dataclasses.dataclass(frozen=True)
class ParityReport:
    """The result of `check`: one `GraphParity` per graph."""

    graphs: Mapping[str, GraphParity]

    @property
    def ok(self):
        return all(g.ok for g in self.graphs.values())

    def to_card(self):
        """The card's `parity` field: `{graph: {max_abs_err, max_rel_err,
        atol, batch_sizes, engines}}`, plus `atol_reason` for a loosened
        tolerance and `index_mismatch` / `max_index_mismatch` for a graph
        with integer outputs."""
        card = {}
        for name, g in self.graphs.items():
            card[name] = {
                "max_abs_err": g.max_abs_err,
                "max_rel_err": g.max_rel_err,
                "atol": g.atol,
                "batch_sizes": list(g.batch_sizes),
                "engines": list(g.errors),
            }
            if g.rows:
                card[name]["reference_rows"] = max(g.rows.values())
            if g.atol_reason:
                card[name]["atol_reason"] = g.atol_reason
            common = {e: v for e, v in g.index_mismatch.items() if e not in g.engine_tolerances}
            if common:
                card[name]["index_mismatch"] = max(common.values())
                card[name]["max_index_mismatch"] = MAX_INDEX_MISMATCH
            for engine, own in g.engine_tolerances.items():
                entry = {"max_abs_err": g.errors[engine][0], "atol": own.atol,
                         "atol_reason": own.reason}
                if engine in g.index_mismatch:
                    entry["index_mismatch"] = g.index_mismatch[engine]
                    entry["max_index_mismatch"] = own.max_index_mismatch
                card[name].setdefault("engine_tolerances", {})[engine] = entry
        return card

    def table(self):
        """A printable text table, one row per graph and engine."""
        rows = [("graph", "engine", "batch_sizes", "max_abs_err", "max_rel_err", "atol",
                 "index_mismatch", "ok")]
        for name, g in self.graphs.items():
            for engine, (abs_err, rel_err) in g.errors.items():
                index = g.index_mismatch.get(engine)
                atol = g.limits(engine)[0]
                rows.append((name, engine, ",".join(map(str, g.batch_sizes)), f"{abs_err:.2e}", f"{rel_err:.2e}", f"{atol:.0e}",
                             "-" if index is None else f"{index:.2e}", "yes" if g.engine_ok(engine) else "NO"))
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)

    def summary(self):
        """One closing line: how many graphs passed on every engine."""
        failed = [name for name, g in self.graphs.items() if not g.ok]
        return (f"{len(self.graphs) - len(failed)} of {len(self.graphs)} graphs pass on every engine"
                + (f"; failed: {', '.join(failed)}" if failed else ""))


def check(model, graphs, onnx_dir=None, savedmodel_dir=None, inputs=None,
          batch_sizes=(1, 3, 64), atol=DEFAULT_ATOL, seed=0):
    """Compare exported artifacts against Keras (`training=False`).

    Each graph runs on the real `inputs` (if given) and on fresh random
    inputs at each batch size: uniform [0, 1] images, standard normal `code`,
    and extra inputs (cae_unpool's `argmax_K`) from `side_inputs` of random
    images.

    Args:
        model: the Keras model the artifacts were exported from.
        graphs: graph names to check.
        onnx_dir: folder holding `GRAPH.onnx` files, or None to skip ONNX.
        savedmodel_dir: a folder from `export_savedmodel`, or None to skip.
        inputs: optional `{graph: {input name: array}}` of real inputs.
        batch_sizes: batch sizes of the random inputs.
        atol: max allowed absolute error: a float for every graph, or a dict
            `{graph: value or (value, reason)}`; graphs not in it use
            `DEFAULT_ATOL`. A value looser than `DEFAULT_ATOL` needs a
            reason, which the card stores. An entry may also be
            `{"value", "reason", "engines": {engine: {"atol",
            "max_index_mismatch", "reason"}}}` to hold one engine to its own
            reasoned limits (the card's `engine_tolerances`).
        seed: seed of the random inputs.

    Returns:
        A `ParityReport`.
    """
    graphs = list(graphs)
    engines = _engines(onnx_dir, savedmodel_dir)
    inputs = dict(inputs or {})
    unknown = sorted(set(inputs) - set(graphs))
    if unknown:
        raise ValueError(f"inputs has graphs that are not checked: {unknown}. Received: graphs={graphs!r}")
    batch_sizes = tuple(int(b) for b in batch_sizes)
    if not batch_sizes or min(batch_sizes) < 1:
        raise ValueError(f"batch_sizes must be positive ints. Received: batch_sizes={batch_sizes!r}")
    tolerances = _tolerances(atol, graphs)
    rng = np.random.default_rng(seed)
    results = {}
    for graph in graphs:
        feeds = [_random_inputs(model, graph, b, rng) for b in batch_sizes]
        if graph in inputs:
            feeds.append(_cast(model, graph, inputs[graph]))
        runners = {engine: make_runner(graph) for engine, make_runner in engines.items()}
        errors = dict.fromkeys(runners, (0.0, 0.0))
        counts = {engine: np.zeros(2, np.int64) for engine in runners}  # differing, total
        rows = {}
        for feed in feeds:
            reference = reference_outputs(model, graph, feed)
            for engine, run in runners.items():
                given, expected = feed, reference
                if isinstance(run, ReferenceRunner):  # the first rows only
                    given, n = run.truncate(feed)
                    expected = {k: v[:n] for k, v in reference.items()}
                    rows[engine] = max(rows.get(engine, 0), n)
                float_errors, index_counts = output_errors(expected, run(given))
                errors[engine] = tuple(map(max, errors[engine], float_errors))
                counts[engine] += index_counts
        index = {e: float(c[0] / c[1]) for e, c in counts.items() if c[1]}
        value, reason, own = tolerances[graph]
        results[graph] = GraphParity(graph, value, reason, batch_sizes, errors, index, rows,
                                     {e: t for e, t in own.items() if e in runners})
    return ParityReport(results)


def reference_outputs(model, graph, inputs):
    """Keras outputs of `graph` under the contract names, as numpy.

    Args:
        model: a zoo model.
        graph: a graph name.
        inputs: `{input name: array}` with the contract input names.
    """
    names = keras_input_names(model, graph)
    if sorted(inputs) != sorted(names):
        raise ValueError(f"Graph {graph!r} takes inputs {names}. Received: inputs={sorted(inputs)}")
    feed = _cast(model, graph, inputs)
    args = [feed[n] for n in names]
    return named_outputs(model, graph,
                         graph_model(model, graph)(args if len(args) > 1 else args[0], training=False))


def named_outputs(model, graph, outputs):
    """The Keras outputs of `graph` as `{contract name: numpy array}`: float32,
    or int64 for integer outputs; a `verify` score [N, 1] becomes [N].

    Args:
        model: a zoo model.
        graph: a graph name.
        outputs: what the graph's Keras sub-model returned (one tensor or a
            list), e.g. from a direct call or `predict`.
    """
    if not isinstance(outputs, (list, tuple)):
        outputs = [outputs]
    result = {}
    for name, value in zip(output_names(model, graph), outputs):
        value = np.asarray(value)
        value = value.astype(np.int64 if value.dtype.kind in "iu" else np.float32)
        if graph == "verify" and value.ndim == 2 and value.shape[-1] == 1:
            value = value[:, 0]
        result[name] = value
    return result


def output_errors(reference, outputs):
    """How far `outputs` are from `reference`, both `{name: array}`.

    Returns:
        `((max_abs_err, max_rel_err), [differing, total])`: the errors of the
        float outputs (see the module docstring) and the element counts of
        the integer outputs; a missing output counts as fully wrong.
    """
    errors, counts = (0.0, 0.0), np.zeros(2, np.int64)
    for name, ref in reference.items():
        if ref.dtype.kind == "i":
            counts += _index_mismatch(ref, outputs.get(name))
        else:
            errors = tuple(map(max, errors, _errors(ref, outputs.get(name))))
    return errors, counts


def side_inputs(model, graph, images):
    """The extra inputs of `graph` (see `zoo.models.graphs`) for `images`:
    the `encode` outputs of the same names, e.g. cae_unpool's `argmax_K`.

    Args:
        model: a zoo model.
        graph: a graph name, e.g. "decode".
        images: float32 images [N, H, W, C] in [0, 1].

    Returns:
        `{input name: array}`, empty when the graph has no extra inputs.
    """
    names = extra_names(model, graph, "inputs")
    if not names:
        return {}
    encoded = reference_outputs(model, "encode", {"image": images})
    missing = [n for n in names if n not in encoded]
    if missing:
        raise ValueError(
            f"Extra input(s) {missing} of graph {graph!r} of {model.name!r} are not outputs "
            "of its 'encode' graph, so no valid value can be made for them. Declare them "
            f"in graph_extras['encode']['outputs']. Received: encode outputs={list(encoded)}"
        )
    return {n: encoded[n] for n in names}


def write_test_data(onnx_path, inputs, outputs, folder):
    """Write `input_K.pb` / `output_K.pb` TensorProtos, ONNX model zoo style.

    K is the tensor's index in the ONNX model's input (output) order. Stale
    `input_*.pb` / `output_*.pb` files in `folder` are removed first.

    Args:
        onnx_path: the `.onnx` file the data belongs to.
        inputs: `{input name: array}`, every ONNX input exactly once.
        outputs: `{output name: array}`, every ONNX output exactly once.
        folder: destination, by contract `test_data/GRAPH`.

    Returns:
        The folder `Path`.
    """
    proto = onnx.load(str(onnx_path))
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for stale in [*folder.glob("input_*.pb"), *folder.glob("output_*.pb")]:
        stale.unlink()
    for prefix, values, arrays in (("input", _graph_inputs(proto), inputs),
                                   ("output", list(proto.graph.output), outputs)):
        names = [v.name for v in values]
        if sorted(arrays) != sorted(names):
            raise ValueError(
                f"{prefix}s must name every ONNX {prefix} of {Path(onnx_path).name} "
                f"exactly once: {names}. Received: {prefix}s={sorted(arrays)}"
            )
        for k, value in enumerate(values):
            dtype = onnx.helper.tensor_dtype_to_np_dtype(value.type.tensor_type.elem_type)
            tensor = onnx.numpy_helper.from_array(np.asarray(arrays[value.name], dtype), value.name)
            (folder / f"{prefix}_{k}.pb").write_bytes(tensor.SerializeToString())
    return folder


def verify_test_data(onnx_path, folder, atol=DEFAULT_ATOL, reference=False):
    """Re-run `write_test_data` files through onnxruntime (and, with
    `reference`, through onnx's `ReferenceEvaluator` on the first rows, see
    the module docstring).

    Args:
        onnx_path: the `.onnx` file.
        folder: the folder holding `input_K.pb` and `output_K.pb`.
        atol: max allowed absolute error.
        reference: also run the reference evaluator: True, or its own limits
            (an `EngineTolerance`, the card's `engine_tolerances`).

    Returns:
        The max absolute error over all float outputs and engines.

    Raises:
        ValueError: when a file is missing, the error exceeds `atol`, or more
            than `MAX_INDEX_MISMATCH` of the integer outputs differ.
    """
    session = _session(onnx_path)
    names = [v.name for v in session.get_inputs()]
    feed = {name: _read_tensor(folder, f"input_{k}.pb") for k, name in enumerate(names)}
    outputs = [_read_tensor(folder, f"output_{k}.pb") for k in range(len(session.get_outputs()))]
    runs = [("onnxruntime", session.run(None, feed), outputs, atol, MAX_INDEX_MISMATCH)]
    if reference:
        runner = ReferenceRunner(onnx_path)
        rows_feed, n = runner.truncate(feed)
        limits = ((reference.atol, reference.max_index_mismatch)
                  if isinstance(reference, EngineTolerance) else (atol, MAX_INDEX_MISMATCH))
        runs.append((REFERENCE_ENGINE, list(runner(rows_feed).values()), [o[:n] for o in outputs],
                     *limits))
    worst = 0.0
    for engine, got, expected, atol, max_index in runs:
        err, counts = 0.0, np.zeros(2, np.int64)
        for value, stored in zip(got, expected):
            if stored.dtype.kind == "i":
                counts += _index_mismatch(stored, value)
            else:
                err = max(err, _errors(stored, value)[0])
        if counts[1] and counts[0] / counts[1] > max_index:
            raise ValueError(
                f"{engine} disagrees with the test data in {str(folder)!r} on {counts[0]} of "
                f"{counts[1]} integer output values (more than {max_index:.0e}). "
                f"Re-export the model and its test data together. Received: onnx_path={str(onnx_path)!r}"
            )
        if not err <= atol:
            raise ValueError(
                f"{engine} disagrees with the test data in {str(folder)!r} by "
                f"max abs error {err:.3g} > atol={atol}. Re-export the model and "
                f"its test data together. Received: onnx_path={str(onnx_path)!r}"
            )
        worst = max(worst, err)
    return worst


class ReferenceRunner:
    """onnx's `ReferenceEvaluator` on one ONNX file, bounded in time: call
    `truncate(feed)` for the rows to run (`REFERENCE_ROWS`, or 1 once a row
    took longer than `REFERENCE_SLOW_SECONDS`), then the runner on them."""

    def __init__(self, path):
        proto = onnx.load(str(path))
        self.evaluator = ReferenceEvaluator(proto)
        self.names = [o.name for o in proto.graph.output]
        self.rows = REFERENCE_ROWS

    def truncate(self, feed):
        """(`feed` cut to its first rows, their number)."""
        n = min(self.rows, min(len(v) for v in feed.values()))
        return {k: v[:n] for k, v in feed.items()}, n

    def __call__(self, feed):
        start = time.perf_counter()
        outputs = self.evaluator.run(None, feed)
        rows = min(len(v) for v in feed.values())
        if (time.perf_counter() - start) / max(rows, 1) > REFERENCE_SLOW_SECONDS:
            self.rows = 1
        return dict(zip(self.names, (np.asarray(o) for o in outputs)))


def _engines(onnx_dir, savedmodel_dir):
    engines = {}
    if savedmodel_dir is not None:
        signatures = load_savedmodel_signatures(savedmodel_dir)

        def savedmodel(graph):
            if graph not in signatures:
                raise ValueError(
                    f"The SavedModel has no {graph!r} signature; re-export it "
                    f"with that graph. Received: signatures={sorted(signatures)}"
                )
            return lambda feed: signatures[graph](**feed)

        engines["savedmodel"] = savedmodel
    if onnx_dir is not None:

        def onnxruntime_engine(graph):
            session = _session(Path(onnx_dir) / f"{graph}.onnx")
            names = [o.name for o in session.get_outputs()]
            return lambda feed: dict(zip(names, session.run(None, feed)))

        engines["onnxruntime"] = onnxruntime_engine
        engines[REFERENCE_ENGINE] = lambda graph: ReferenceRunner(_existing(Path(onnx_dir) / f"{graph}.onnx"))
    if not engines:
        raise ValueError("Nothing to check: pass onnx_dir and/or savedmodel_dir. Received: both None.")
    return engines


def _tolerances(atol, graphs):
    """{graph: (atol, reason, {engine: EngineTolerance})} from `check`'s `atol`."""
    if not isinstance(atol, Mapping):
        atol = {g: atol for g in graphs}
    unknown = sorted(set(atol) - set(graphs))
    if unknown:
        raise ValueError(f"atol names graphs that are not checked: {unknown}. Received: graphs={graphs!r}")
    result = {}
    for graph in graphs:
        entry = atol.get(graph, DEFAULT_ATOL)
        own = {}
        if isinstance(entry, Mapping):  # {"value", "reason", "engines": {engine: {...}}}
            own = {e: EngineTolerance(float(t["atol"]), float(t.get("max_index_mismatch", MAX_INDEX_MISMATCH)),
                                      t["reason"])
                   for e, t in entry.get("engines", {}).items()}
            entry = (entry.get("value", DEFAULT_ATOL), entry.get("reason"))
        value, reason = entry if isinstance(entry, tuple) else (entry, None)
        value = float(value)
        if not value >= 0:
            raise ValueError(f"atol must be >= 0. Received: atol[{graph!r}]={entry!r}")
        if value > DEFAULT_ATOL and not reason:
            raise ValueError(
                f"An atol looser than {DEFAULT_ATOL} needs a reason for the card: "
                f"pass atol={{{graph!r}: ({value}, 'why')}}. Received: atol[{graph!r}]={entry!r}"
            )
        result[graph] = (value, reason, own)
    return result


def _random_inputs(model, graph, batch, rng):
    feed = {}
    extras = extra_names(model, graph, "inputs")
    for spec in input_specs(model, graph):
        if spec.name in extras:
            continue
        shape = (batch, *concrete_shape(spec.shape[1:]))  # dynamic H, W: DYNAMIC_SIDE
        x = rng.standard_normal(shape) if spec.name == "code" else rng.uniform(0.0, 1.0, shape)
        feed[spec.name] = x.astype(np.float32)
    if extras:
        (image,) = input_specs(model, "encode")
        images = rng.uniform(0.0, 1.0, (batch, *image.shape[1:])).astype(np.float32)
        feed.update(side_inputs(model, graph, images))
    return feed


def _cast(model, graph, arrays):
    """`arrays` as numpy arrays of the graph's input dtypes."""
    dtypes = {spec.name: spec.dtype.as_numpy_dtype for spec in input_specs(model, graph)}
    return {k: np.asarray(v, dtypes.get(k, np.float32)) for k, v in arrays.items()}


def _index_mismatch(reference, value):
    """[differing, total] elements of an integer output; all differ on a shape mismatch."""
    total = int(np.size(reference))
    if value is None or np.shape(value) != np.shape(reference):
        return np.array([total, total])
    return np.array([int(np.count_nonzero(np.asarray(value) != reference)), total])


def _errors(reference, value):
    """(max abs error, max rel error) as defined in the module docstring."""
    if value is None or np.shape(value) != np.shape(reference):
        return math.inf, math.inf
    reference = np.asarray(reference, np.float64)
    diff = float(np.max(np.abs(np.asarray(value, np.float64) - reference), initial=0.0))
    if math.isnan(diff):
        return math.inf, math.inf
    scale = float(np.max(np.abs(reference), initial=0.0))
    return diff, diff / max(scale, _TINY)


def _existing(path):
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No ONNX file to check. Export it first. Received: path={str(path)!r}")
    return path


def _session(path):
    return onnxruntime.InferenceSession(str(_existing(path)), providers=["CPUExecutionProvider"])


def _graph_inputs(proto):
    initializers = {t.name for t in proto.graph.initializer}
    return [v for v in proto.graph.input if v.name not in initializers]


def _read_tensor(folder, filename):
    path = Path(folder) / filename
    if not path.is_file():
        raise ValueError(f"Missing test data file; re-export the artifact with `zoo export NAME "
                         f"--force` or re-pull it with `zoo pull NAME`. Received: path={str(path)!r}")
    tensor = onnx.TensorProto()
    tensor.ParseFromString(path.read_bytes())
    return onnx.numpy_helper.to_array(tensor)
