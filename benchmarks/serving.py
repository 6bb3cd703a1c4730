"""Serving speed: `zoo.runtime` (ONNX) against five TensorFlow paths, on
every graph of every published artifact.

    python -m benchmarks.serving [--models NAME ...] [--quick] [--repeats N]

Engines, all on the same real test inputs (from `zoo.export.publish.real_inputs`:
pairs for `verify`, the `encode` outputs for `decode`), all returning NumPy
arrays:

- `onnx`: `zoo.runtime.RuntimeModel.run` on raw float inputs (no preprocessing);
- `keras`: the graph's Keras model called directly, `model(x, training=False)`;
- `predict`: `model.predict(x, batch_size=len(x), verbose=0)`, one step;
- `savedmodel`: the reloaded SavedModel signature (exported to a temp folder);
- `tf.function`: the export graph function (`zoo.export.signatures.graph_function`);
- `xla`: the same with `jit_compile=True`.

Batch-1 latency is the median and p95 over `--repeats` calls; batch-256
throughput is rows per second at the median call time (a pair or a code
counts as one row). Ratios compare ONNX with the fastest of the three TF
graph paths (savedmodel, tf.function, xla), named per row. FLOPs come from
`benchmarks.flops.count_flops`; the peak is the faster of NumPy's and
onnxruntime's 2048 x 2048 float32 matrix product. The ONNX tuning
experiments are in `benchmarks.onnx_tuning`.
"""

from zoo import backend  # noqa: F401  (pins the TF backend before Keras)

import argparse
import dataclasses
import math
import tempfile
from pathlib import Path

import numpy as np

import zoo
from benchmarks import onnx_tuning
from benchmarks.common import SAVED, markdown, verdict
from benchmarks.flops import count_flops, peak_gflops
from benchmarks.timing import measure, warm_up
from zoo.export.parity import named_outputs, output_errors
from zoo.export.publish import real_inputs
from zoo.export.savedmodel import export_savedmodel, load_savedmodel_signatures
from zoo.export.signatures import graph_function, input_specs, keras_input_names
from zoo.evaluation._plot import new_figure, save_png
from zoo.models.graphs import graph_model
from zoo.runtime import RuntimeModel, read_card
from zoo.saving import load_model

ENGINES = ("onnx", "keras", "predict", "savedmodel", "tf.function", "xla")
TF_GRAPH_ENGINES = ("savedmodel", "tf.function", "xla")
THROUGHPUT_BATCH = 256
REPEATS, QUICK_REPEATS = 100, 30
QUICK_MODELS = ("fmnist_cnn", "siamese_contrastive", "cae_unpool")
TARGET_LATENCY_SPEEDUP, TARGET_THROUGHPUT_RATIO, TARGET_PEAK_FRACTION = 8.0, 1.5, 1 / 3
AGREEMENT_ATOL = 1e-4
PEAK_REPEATS = 10
HERE = Path(__file__).resolve().parent
PLOTS = {"latency": HERE / "serving_latency.png", "throughput": HERE / "serving_throughput.png"}


@dataclasses.dataclass(frozen=True)
class GraphResult:
    """The measurements of one graph of one model.

    `latency` and `throughput` map engine -> `Timing` at batch 1 and 256;
    `failed` maps engine -> error; `errors` maps engine -> (max abs error vs
    keras, integer mismatch fraction or None); `flops` is per row.
    """

    model: str
    graph: str
    latency: dict
    throughput: dict
    failed: dict
    errors: dict
    flops: int

    @property
    def label(self):
        return f"{self.model}:{self.graph}"

    def fastest_tf(self, timings):
        """The TF graph engine with the lowest median in `timings`, or None."""
        ready = [e for e in TF_GRAPH_ENGINES if e in timings]
        return min(ready, key=lambda e: timings[e].median) if ready else None


def published(models=None) -> list:
    """Names of the published artifacts (a `card.json` in saved_models/NAME/).

    Args:
        models: names to keep, or None for all; an unpublished name raises.
    """
    available = sorted(p.parent.name for p in SAVED.glob("*/card.json"))
    if not models:
        return available
    unknown = [m for m in models if m not in available]
    if unknown:
        raise ValueError(f"No published artifact for {unknown}. Available: {available}. "
                         f"Received: models={list(models)}")
    return list(models)


def graph_engines(model, graph, runtime, signatures) -> dict:
    """`{engine: call(feed) -> {output name: array}}` for one graph.

    Args:
        model: the artifact's Keras model.
        graph: a graph name of its card.
        runtime: a `RuntimeModel` of the artifact folder.
        signatures: `load_savedmodel_signatures` of its SavedModel, or None
            to leave the `savedmodel` engine out.
    """
    sub = graph_model(model, graph)
    order = keras_input_names(model, graph)
    names = [spec.name for spec in input_specs(model, graph)]
    plain, xla = graph_function(model, graph), graph_function(model, graph, jit_compile=True)

    def keras_args(feed):
        args = [feed[n] for n in order]
        return args if len(args) > 1 else args[0]

    engines = {
        "onnx": lambda feed: runtime.run(graph, **feed),
        "keras": lambda feed: named_outputs(model, graph, sub(keras_args(feed), training=False)),
        "predict": lambda feed: named_outputs(model, graph, sub.predict(
            keras_args(feed), batch_size=_rows(feed), verbose=0)),
        "savedmodel": lambda feed: signatures[graph](**feed),
        "tf.function": lambda feed: _numpy(plain(*[feed[n] for n in names])),
        "xla": lambda feed: _numpy(xla(*[feed[n] for n in names])),
    }
    if signatures is None:
        del engines["savedmodel"]
    return engines


def bench_graph(name, graph, model, runtime, signatures, feed, repeats) -> GraphResult:
    """Check and time every engine on one graph.

    Args:
        name: the model name.
        graph: the graph name.
        model: the Keras model; runtime, signatures: see `graph_engines`.
        feed: `{input: array}` of `THROUGHPUT_BATCH` rows; its first row is
            the batch-1 input.
        repeats: batch-1 calls per engine; batch 256 uses a tenth (>= 5).
    """
    one = {k: v[:1] for k, v in feed.items()}
    engines, failed = warm_up(graph_engines(model, graph, runtime, signatures), [one, feed])
    if "keras" not in engines:
        raise RuntimeError(f"The Keras model of {name!r} cannot run graph {graph!r}, so there is "
                           f"no reference output. Received: error={failed['keras']!r}")
    reference = engines["keras"](feed)
    errors = {}
    for engine, call in engines.items():
        (abs_err, _), (differing, total) = output_errors(reference, call(feed))
        errors[engine] = (abs_err, differing / total if total else None)
    return GraphResult(name, graph, measure(engines, one, repeats),
                       measure(engines, feed, max(5, repeats // 10)), failed, errors,
                       count_flops(model, graph))


def bench_model(name, repeats, workdir, tuning=None):
    """The `GraphResult` of every graph of one artifact (and its tuning rows
    into `tuning`).

    Args:
        name: a published model name.
        repeats: batch-1 calls per engine.
        workdir: a scratch folder for the SavedModel and ONNX variants.
        tuning: an `onnx_tuning.Tuning` to collect the ONNX experiments, or None.
    """
    folder = SAVED / name
    card = read_card(folder)
    model = load_model(folder / "model.keras")
    graphs = list(card["graphs"])
    savedmodel = export_savedmodel(model, graphs, Path(workdir) / name / "savedmodel")
    signatures = load_savedmodel_signatures(savedmodel)
    runtime = RuntimeModel(folder)
    feeds = real_inputs(zoo.info(name), model, THROUGHPUT_BATCH)
    results = []
    for graph in graphs:
        results.append(bench_graph(name, graph, model, runtime, signatures, feeds[graph], repeats))
        if tuning is not None:
            tuning.add(name, graph, folder / card["graphs"][graph]["file"], card, feeds[graph],
                       Path(workdir) / name)
    return results


def run(from_cards=False, models=None, quick=False, repeats=None, plots=True) -> str:
    """Measure and return the Markdown report.

    Args:
        from_cards: ignored (speed cannot be read from the cards); kept for
            the `benchmarks` runner's interface.
        models: model names, or None for every published one (`QUICK_MODELS`
            with `quick`).
        quick: fewer repetitions and, without `models`, `QUICK_MODELS` only.
        repeats: batch-1 calls per engine (default 100, quick 30).
        plots: write `PLOTS`.
    """
    del from_cards
    names = published(models or (QUICK_MODELS if quick else None))
    if repeats is None:
        repeats = QUICK_REPEATS if quick else REPEATS
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1. Received: repeats={repeats}")
    tuning = onnx_tuning.Tuning(max(10, repeats // 4))
    before = peak_gflops(repeats=PEAK_REPEATS)
    with tempfile.TemporaryDirectory(prefix="zoo-serving-") as workdir:
        results = [r for name in names for r in bench_model(name, repeats, workdir, tuning)]
    # The best of two measurements, before and after, is the closest to the peak.
    peak = {k: max(v, before[k]) for k, v in peak_gflops(repeats=PEAK_REPEATS).items()}
    if plots:
        plot(results, "latency", PLOTS["latency"])
        plot(results, "throughput", PLOTS["throughput"])
    return report(results, peak, repeats) + "\n" + tuning.report()


# --- report -----------------------------------------------------------------


def report(results, peak, repeats) -> str:
    """The Markdown tables: targets, latency, throughput, failed engines."""
    speedups = [_ratio(r, "latency") for r in results]
    ratios = [_ratio(r, "throughput") for r in results]
    fractions = [_onnx_gflops(r) / peak["peak"] if _onnx_gflops(r) else None for r in results]
    targets = markdown([
        _target("ONNX batch-1 latency speed-up over the fastest TF path", speedups,
                TARGET_LATENCY_SPEEDUP, f">= {TARGET_LATENCY_SPEEDUP:g}x", _x),
        _target("ONNX batch-256 throughput over the fastest TF path", ratios,
                TARGET_THROUGHPUT_RATIO, f">= {TARGET_THROUGHPUT_RATIO:g}x", _x),
        _target("ONNX batch-256 GFLOP/s / float32 matmul peak", fractions, TARGET_PEAK_FRACTION,
                f">= {TARGET_PEAK_FRACTION:.0%} (within 3x of the FLOP-bound limit)",
                lambda v: f"{v:.0%}"),
    ], ("figure", "worst graph", "geometric mean", "target", "verdict"))
    latency = markdown([_latency_row(r) for r in results],
                       ("model", "graph", *ENGINES, "fastest TF", "ONNX speed-up",
                        "max abs diff", "verdict"))
    throughput = markdown([_throughput_row(r, peak["peak"]) for r in results],
                          ("model", "graph", *ENGINES, "fastest TF", "ONNX ratio",
                           "MFLOP/row", "ONNX GFLOP/s", "of peak", "verdict"))
    failed = [(r.model, r.graph, e, why) for r in results for e, why in r.failed.items()]
    notes = ("\n\nEngines that could not run a graph:\n\n"
             + markdown(failed, ("model", "graph", "engine", "error"))) if failed else ""
    return (
        f"### Serving speed (2048x2048 float32 matmul peak: {peak['peak']:.1f} GFLOP/s; "
        f"NumPy {peak['numpy']:.1f}, onnxruntime {peak['onnxruntime']:.1f})\n\n{targets}\n\n"
        f"Batch-1 latency, ms (median / p95 of {repeats} calls after warm-up; real test inputs). "
        "Speed-up = fastest TF graph path (savedmodel, tf.function, xla) / ONNX, medians. "
        f"max abs diff: of every engine against `keras` at batch {THROUGHPUT_BATCH} "
        "(integer outputs: fraction differing):\n\n"
        f"{latency}\n\nBatch-{THROUGHPUT_BATCH} throughput, rows/s (a pair or a code is a row); "
        "MFLOP/row from the TF profiler (1 MAC = 2 FLOPs). \"of peak\" above 100% means "
        "onnxruntime's convolution kernels (NCHWc layout, AVX-512 where the CPU has it) beat "
        "the matrix product used as the reference:\n\n"
        f"{throughput}{notes}\n"
    )


def _latency_row(r):
    cells = [_ms(r.latency.get(e)) for e in ENGINES]
    errors = list(r.errors.values())
    worst = max(a for a, _ in errors) if errors else math.nan
    mismatch = max((m for _, m in errors if m is not None), default=None)
    diff = f"{worst:.1e}" + (f" (int {mismatch:.0e})" if mismatch is not None else "")
    speedup = _ratio(r, "latency")
    return (r.model, r.graph, *cells, r.fastest_tf(r.latency) or "-", _x(speedup), diff,
            verdict(speedup, TARGET_LATENCY_SPEEDUP))


def _throughput_row(r, peak):
    cells = [f"{r.throughput[e].throughput:,.0f}" if e in r.throughput else "-" for e in ENGINES]
    ratio, gflops = _ratio(r, "throughput"), _onnx_gflops(r)
    return (r.model, r.graph, *cells, r.fastest_tf(r.throughput) or "-", _x(ratio),
            f"{r.flops / 1e6:.2f}", "-" if gflops is None else f"{gflops:.1f}",
            "-" if gflops is None else f"{gflops / peak:.0%}",
            verdict(None if gflops is None else gflops / peak, TARGET_PEAK_FRACTION))


def _ratio(r, kind):
    """Median time of the fastest TF graph path / median time of ONNX."""
    timings = getattr(r, kind)
    best = r.fastest_tf(timings)
    if best is None or "onnx" not in timings:
        return None
    return timings[best].median / timings["onnx"].median


def _onnx_gflops(r):
    return r.flops * r.throughput["onnx"].throughput / 1e9 if "onnx" in r.throughput else None


def _target(figure, values, threshold, target, fmt):
    """A targets-table row: the worst and the geometric mean of `values`,
    judged on the worst (every graph must meet the target)."""
    values = [v for v in values if v is not None]
    if not values:
        return (figure, "-", "-", target, "not measured")
    worst, geomean = min(values), float(np.exp(np.mean(np.log(values))))
    return (figure, fmt(worst), fmt(geomean), target, verdict(worst, threshold))


def _ms(timing):
    return "-" if timing is None else f"{timing.median * 1e3:.2f} / {timing.p95 * 1e3:.2f}"


def _x(value):
    return "-" if value is None else f"{value:.1f}x"


# --- plots ------------------------------------------------------------------


def plot(results, kind, path):
    """One row per model:graph, one marker per engine, log x: batch-1 median
    latency (ms) or batch-256 throughput (rows/s). Written atomically."""
    if kind not in PLOTS:
        raise ValueError(f"kind must be one of {sorted(PLOTS)}. Received: kind={kind!r}")
    fig, ax = new_figure((8, 1.5 + 0.3 * len(results)))
    y = np.arange(len(results))[::-1]
    markers = "os^vDP"
    for engine, marker in zip(ENGINES, markers):
        timings = [getattr(r, kind).get(engine) for r in results]
        values = [np.nan if t is None else (t.median * 1e3 if kind == "latency" else t.throughput)
                  for t in timings]
        ax.scatter(values, y, marker=marker, label=engine, s=28)
    ax.set_xscale("log")
    ax.set_yticks(y, [r.label for r in results], fontsize=7)
    ax.set_xlabel("batch-1 median latency, ms (lower is better)" if kind == "latency"
                  else f"batch-{THROUGHPUT_BATCH} throughput, rows/s (higher is better)")
    ax.grid(True, which="both", axis="x", alpha=0.3)
    ax.legend(fontsize=7, ncol=len(ENGINES), loc="lower center", bbox_to_anchor=(0.5, 1.0))
    return save_png(fig, path)


# --- engine helpers -----------------------------------------------------------


def _rows(feed):
    return len(next(iter(feed.values())))


def _numpy(outputs):
    return {k: v.numpy() for k, v in outputs.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument("--models", nargs="+", metavar="NAME", help="published models to time (default: all)")
    parser.add_argument("--quick", action="store_true",
                        help=f"{QUICK_REPEATS} repeats and, without --models, only {', '.join(QUICK_MODELS)}")
    parser.add_argument("--repeats", type=int, help=f"batch-1 calls per engine (default {REPEATS})")
    args = parser.parse_args(argv)
    print(run(models=args.models, quick=args.quick, repeats=args.repeats))


if __name__ == "__main__":
    main()
