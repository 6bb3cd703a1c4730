"""FLOPs of an export graph, and this CPU's float32 matrix-product peak.

Counting rule: the TensorFlow profiler (`tf.compat.v1.profiler`,
`float_operation` view) over the graph of the export `tf.function` traced at
batch 1. It sums every op TensorFlow registers a FLOP count for:
convolutions and matrix products at 2 FLOPs per multiply-accumulate, plus
bias adds, batch-norm arithmetic, pooling and softmax at about 1 FLOP per
element. A shared tower called twice (a `verify` graph) counts twice, as it
runs twice. Data movement (reshape, transpose, concat, gather, tile) counts
0.

The peak is the best rate of one large float32 matrix product. It is the
usual practical bound, not a hard one: onnxruntime's convolution kernels can
run faster than NumPy's BLAS (OpenBLAS may pick an AVX2 kernel on an
AVX-512 CPU) and than its own MatMul.
"""

from zoo import backend  # noqa: F401  (pins the TF backend before Keras)

import time

import numpy as np
import onnx
import onnxruntime as ort
import tensorflow as tf
from onnx import TensorProto, helper

from zoo.export.signatures import graph_function, input_specs


def count_flops(model, graph) -> int:
    """FLOPs of one example (one image, pair or code) through `graph`.

    Args:
        model: a built zoo model.
        graph: a graph name, e.g. "classify".
    """
    fn = graph_function(model, graph)
    specs = [tf.TensorSpec((1, *s.shape[1:]), s.dtype, name=s.name) for s in input_specs(model, graph)]
    concrete = tf.function(fn.python_function, autograph=False).get_concrete_function(*specs)
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    profile = tf.compat.v1.profiler.profile(graph=concrete.graph, options=options)
    return int(profile.total_float_ops)


def peak_gflops(size=2048, repeats=5, intra_op_num_threads=None) -> dict:
    """GFLOP/s of one float32 `size` x `size` matrix product (2 size^3 FLOPs),
    best of `repeats`, with NumPy's BLAS and with onnxruntime's MatMul.

    Args:
        size: the side of the square matrices.
        repeats: timed products per engine; the fastest counts.
        intra_op_num_threads: onnxruntime threads; None lets it decide.

    Returns:
        `{"numpy": GFLOP/s, "onnxruntime": GFLOP/s, "peak": the larger}`.
    """
    if size < 1 or repeats < 1:
        raise ValueError(f"size and repeats must be >= 1. Received: size={size}, repeats={repeats}")
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((size, size), dtype=np.float32) for _ in range(2))
    session = _matmul_session(intra_op_num_threads)
    rates = {
        "numpy": _best_rate(lambda: a @ b, size, repeats),
        "onnxruntime": _best_rate(lambda: session.run(None, {"a": a, "b": b}), size, repeats),
    }
    rates["peak"] = max(rates.values())
    return rates


def _best_rate(product, size, repeats):
    product()  # warm-up: thread pools, allocations
    best = min(_seconds(product) for _ in range(repeats))
    return 2.0 * size**3 / best / 1e9


def _seconds(call):
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def _matmul_session(intra_op_num_threads):
    node = helper.make_node("MatMul", ["a", "b"], ["c"])
    square = ["n", "n"]
    graph = helper.make_graph([node], "matmul",
                              [helper.make_tensor_value_info(k, TensorProto.FLOAT, square) for k in "ab"],
                              [helper.make_tensor_value_info("c", TensorProto.FLOAT, square)])
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    onnx.checker.check_model(proto)
    options = ort.SessionOptions()
    if intra_op_num_threads is not None:
        options.intra_op_num_threads = intra_op_num_threads
    return ort.InferenceSession(proto.SerializeToString(), options, providers=["CPUExecutionProvider"])
