"""ONNX tuning experiments for `benchmarks.serving`: session options, and
int8 / float16 variants of each graph with their accuracy against the float
model.

Session options start from `zoo.runtime.model.session_options` (what
`RuntimeModel` uses) and change one thing each. Variants run with those
default options:

- `int8 dynamic`: `quantize_dynamic`, int8 weights, activations quantized
  per call;
- `int8 static`: `quantize_static` (QDQ, per-channel int8 weights, uint8
  activations) calibrated on the first `CALIBRATION_ROWS` real inputs;
- `float16`: `onnxruntime.transformers.float16.convert_float_to_float16`
  (the converter of onnxconverter-common, shipped with onnxruntime), float32
  inputs and outputs kept.

Accuracy is measured against the float32 graph on the inputs after the
calibration rows: the max abs difference, and an agreement rate per task:
the same top class (`classify`, `identify`), the same leave-one-out nearest
neighbour under the card's distance (`embed`, `embed_query`), the same
match decision at the card's threshold (`verify`).
"""

import math
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

from benchmarks.common import markdown
from benchmarks.timing import measure, warm_up
from zoo.export.parity import output_errors
from zoo.runtime.model import pair_score, session_options

CALIBRATION_ROWS = 32
DEFAULT = "zoo.runtime"
_LEVELS = {"off": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
           "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
           "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
           "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL}
SESSION_CONFIGS = {
    DEFAULT: {},
    "optimisation off": {"level": "off"},
    "optimisation basic": {"level": "basic"},
    "optimisation extended": {"level": "extended"},
    "1 intra-op thread": {"intra_op_num_threads": 1},
    "2 intra-op threads": {"intra_op_num_threads": 2},
    "parallel execution, 2 inter-op threads": {"parallel": True},
    "no spinning": {"spinning": False},
    "denormals as zero": {"denormal_as_zero": True},
}


def make_session(data, level=None, intra_op_num_threads=None, parallel=False, spinning=True,
                 denormal_as_zero=False):
    """An onnxruntime CPU session with `zoo.runtime`'s options and one change.

    Args:
        data: the ONNX model bytes.
        level: graph optimisation, one of "off", "basic", "extended", "all";
            None keeps the runtime's.
        intra_op_num_threads: threads per operator; None keeps the runtime's.
        parallel: run independent nodes in parallel (2 inter-op threads).
        spinning: let idle intra-op threads spin (onnxruntime's default).
        denormal_as_zero: flush denormal floats to zero.
    """
    options = session_options(intra_op_num_threads=intra_op_num_threads)
    if level is not None:
        if level not in _LEVELS:
            raise ValueError(f"level must be one of {sorted(_LEVELS)}. Received: level={level!r}")
        options.graph_optimization_level = _LEVELS[level]
    if parallel:
        options.execution_mode = ort.ExecutionMode.ORT_PARALLEL
        options.inter_op_num_threads = 2
    if not spinning:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if denormal_as_zero:
        options.add_session_config_entry("session.set_denormal_as_zero", "1")
    return ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])


def int8_dynamic(path, calibration, out):
    """`path` with int8 weights and dynamically quantized activations."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(path), str(out), weight_type=QuantType.QInt8)
    return Path(out).read_bytes()


def int8_static(path, calibration, out):
    """`path` quantized to int8 QDQ, calibrated on `calibration` (a feed)."""
    from onnxruntime.quantization import (CalibrationDataReader, QuantFormat, QuantType,
                                          quantize_static)

    class Reader(CalibrationDataReader):
        def __init__(self):
            rows = len(next(iter(calibration.values())))
            self._feeds = iter([{k: v[i:i + 1] for k, v in calibration.items()} for i in range(rows)])

        def get_next(self):
            return next(self._feeds, None)

    quantize_static(str(path), str(out), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    return Path(out).read_bytes()


def float16(path, calibration, out):
    """`path` with float16 weights and arithmetic, float32 inputs and outputs."""
    from onnxruntime.transformers.float16 import convert_float_to_float16

    proto = convert_float_to_float16(onnx.load(str(path)), keep_io_types=True)
    return proto.SerializeToString()


VARIANTS = {"int8 dynamic": int8_dynamic, "int8 static": int8_static, "float16": float16}


def agreement(graph, reference, outputs, card):
    """The rate at which `outputs` make the same decision as `reference`
    (see the module docstring), or None for graphs without a decision.

    Args:
        graph: the graph name.
        reference: `{name: array}` of the float32 graph.
        outputs: `{name: array}` of a variant.
        card: the artifact's card (distance, threshold).
    """
    name, ref = next(iter(reference.items()))
    ref, got = np.asarray(ref, np.float64), np.asarray(outputs[name], np.float64)
    if graph in ("classify", "identify"):
        return float(np.mean(ref.argmax(axis=1) == got.argmax(axis=1)))
    if graph in ("embed", "embed_query"):
        return float(np.mean(_nearest(ref, card) == _nearest(got, card)))
    if graph == "verify" and card.get("threshold"):
        value, greater = card["threshold"]["value"], card["threshold"]["direction"] == "greater"
        return float(np.mean((ref >= value if greater else ref <= value)
                             == (got >= value if greater else got <= value)))
    return None


def _nearest(embeddings, card):
    """Leave-one-out nearest neighbour of each row under the card's distance."""
    distance = card.get("distance") or "cosine"
    n = len(embeddings)
    rows, cols = np.repeat(np.arange(n), n), np.tile(np.arange(n), n)
    score = pair_score(embeddings[rows], embeddings[cols], distance).reshape(n, n).astype(np.float64)
    if distance == "cosine":
        score = -score  # higher similarity = closer
    np.fill_diagonal(score, np.inf)
    return score.argmin(axis=1)


class Tuning:
    """Collects the session-option and variant measurements graph by graph.

    Args:
        repeats: batch-1 calls per configuration; the big batch uses a
            twentieth (at least 3).
    """

    def __init__(self, repeats):
        self.repeats = repeats
        self.configs = []  # (model, graph, {config: (batch-1 Timing, big-batch Timing)})
        self.variants = []  # report rows

    def add(self, name, graph, onnx_path, card, feed, workdir):
        """Run every session configuration and variant of one graph.

        Args:
            name: the model name; graph: the graph name.
            onnx_path: the published `GRAPH.onnx`.
            card: the artifact's card.
            feed: real inputs, more than `CALIBRATION_ROWS` rows.
            workdir: a scratch folder for the quantized files.
        """
        data = Path(onnx_path).read_bytes()
        one = {k: v[:1] for k, v in feed.items()}
        sessions = {c: make_session(data, **options) for c, options in SESSION_CONFIGS.items()}
        ready, _ = warm_up({c: _runner(s) for c, s in sessions.items()}, [one, feed])
        latency, throughput = self._time(ready, one, feed)
        self.configs.append((name, graph, {c: (latency[c], throughput[c]) for c in ready}))
        base = (latency[DEFAULT], throughput[DEFAULT])
        reference = ready[DEFAULT](feed)
        calibration = {k: v[:CALIBRATION_ROWS] for k, v in feed.items()}
        held_out = slice(CALIBRATION_ROWS, None)
        Path(workdir).mkdir(parents=True, exist_ok=True)
        for variant, build in VARIANTS.items():
            try:
                out = Path(workdir) / f"{graph}.{variant.replace(' ', '_')}.onnx"
                run = _runner(make_session(build(onnx_path, calibration, out)))
                ready, failed = warm_up({variant: run}, [one, feed])
            except Exception as error:  # quantizers raise untyped errors on unsupported ops
                ready, failed = {}, {variant: f"{type(error).__name__}: {str(error).splitlines()[0][:120]}"}
            if failed:
                self.variants.append((name, graph, variant, "-", "-", "-", "-", "-", "-",
                                      f"failed: {failed[variant]}"))
                continue
            lat, thr = self._time(ready, one, feed)
            got = {k: v[held_out] for k, v in run(feed).items()}
            expected = {k: v[held_out] for k, v in reference.items()}
            (diff, _), (differing, total) = output_errors(expected, got)
            agree = agreement(graph, expected, got, card)
            note = f"integer outputs differing: {differing / total:.1e}" if total else ""
            self.variants.append((
                name, graph, variant, f"{lat[variant].median * 1e3:.3f}",
                f"{base[0].median / lat[variant].median:.2f}x",
                f"{thr[variant].throughput:,.0f}", f"{thr[variant].throughput / base[1].throughput:.2f}x",
                f"{diff:.1e}", "-" if agree is None else f"{agree:.3f}", note))

    def _time(self, engines, one, feed):
        return (measure(engines, one, self.repeats),
                measure(engines, feed, max(3, self.repeats // 20)))

    def report(self) -> str:
        """Markdown: session options (geometric means over graphs), then variants."""
        if not self.configs:
            return ""
        rows = []
        for config in SESSION_CONFIGS:
            lat, thr = [], []
            for _, _, timings in self.configs:
                if config in timings and DEFAULT in timings:
                    lat.append(timings[DEFAULT][0].median / timings[config][0].median)
                    thr.append(timings[config][1].throughput / timings[DEFAULT][1].throughput)
            rows.append((config, *_spread(lat), *_spread(thr)))
        options = markdown(rows, ("session options", "batch-1 speed", "(min - max)",
                                  "batch-256 speed", "(min - max)"))
        variants = markdown(self.variants, (
            "model", "graph", "variant", "batch-1 ms", "vs float", "batch-256 rows/s", "vs float",
            "max abs diff", "agreement", "note"))
        return (f"#### ONNX tuning\n\nSession options, speed relative to `{DEFAULT}`'s "
                f"(>1 is faster), geometric mean over {len(self.configs)} graph(s):\n\n{options}\n\n"
                f"Quantized and float16 variants (default session options); accuracy against the "
                f"float32 graph on the real inputs after the {CALIBRATION_ROWS} calibration rows:"
                f"\n\n{variants}\n")


def _runner(session):
    names = [o.name for o in session.get_outputs()]
    return lambda feed: dict(zip(names, session.run(names, feed)))


def _spread(ratios):
    if not ratios:
        return ("-", "-")
    geomean = math.exp(sum(map(math.log, ratios)) / len(ratios))
    return (f"{geomean:.2f}x", f"{min(ratios):.2f} - {max(ratios):.2f}")
