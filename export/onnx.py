"""ONNX export of one graph through tf2onnx, plus the serializability gate.

`tf2onnx.convert.from_keras` fails on Keras 3 models (it looks up Keras 2
tensor names), so the graph is converted from the named `tf.function` that
`zoo.export.signatures` also gives the SavedModel exporter.
"""

from zoo import backend  # noqa: F401  (pins the TF backend before Keras)

import json
from pathlib import Path

import keras
import numpy as np
import onnx
import tf2onnx

from zoo.export.signatures import graph_function
from zoo.io import atomic_write_bytes
from zoo.models.graphs import all_layers, output_names

# tf2onnx 1.17 tests opsets 14-18, but at 18 only the basic reductions were
# ported: other paths (All/Any, segment ops) still emit `axes` attributes
# that opset 18 removed. 17 is the newest opset it converts completely.
OPSET = 17
BATCH_DIM = "N"


def check_serializable(model):
    """Refuse a model that cannot be saved and reloaded with `safe_mode=True`.

    Checks every layer, nested ones included: `keras.layers.Lambda` is
    refused (its Python code is not portable), a class must be built into
    Keras or registered with `keras.saving.register_keras_serializable`, and
    `keras.saving.serialize_keras_object` must succeed on it.

    Args:
        model: a `keras.Model`.

    Raises:
        ValueError: naming the first offending layer and the fix.
    """
    # `all_layers` yields parents first, so serialize in reverse to blame
    # the innermost offender.
    layers = all_layers(model)
    for layer in layers:
        cls = type(layer)
        if isinstance(layer, keras.layers.Lambda):
            raise ValueError(
                f"Layer {layer.name!r} of model {model.name!r} is a Lambda "
                "layer, which cannot be exported or loaded with safe_mode. "
                "Replace it with a registered custom layer. "
                f"Received: layer={layer.name!r} ({cls.__name__})"
            )
        builtin = cls.__module__.split(".")[0] == "keras"
        registered_name = keras.saving.get_registered_name(cls)
        if not builtin and keras.saving.get_registered_object(registered_name) is not cls:
            raise ValueError(
                f"Layer {layer.name!r} of model {model.name!r} has class "
                f"{cls.__module__}.{cls.__qualname__}, which is neither built "
                "into Keras nor registered. Decorate the class with "
                "@keras.saving.register_keras_serializable(package='zoo'). "
                f"Received: layer={layer.name!r} ({cls.__name__})"
            )
    for layer in reversed(layers):
        try:
            keras.saving.serialize_keras_object(layer)
        except Exception as error:
            raise ValueError(
                f"Layer {layer.name!r} of model {model.name!r} cannot be "
                f"serialized: {error}. Give its class a complete get_config() "
                f"that mirrors __init__. Received: layer={layer.name!r} "
                f"({type(layer).__name__})"
            ) from error


def export_onnx(model, graph, path, metadata):
    """Convert `graph` of `model` to an ONNX file at opset `OPSET`.

    The model is called with `training=False`. Inputs and outputs carry the
    contract names and a dynamic batch dimension named `BATCH_DIM`. The file
    passes `onnx.checker.check_model(full_check=True)` and is written
    atomically (a temporary file in the same folder, then `os.replace`).

    Args:
        model: a built zoo model; see `check_serializable`.
        graph: a graph name, e.g. "embed".
        path: destination `.onnx` file.
        metadata: `metadata_props` to store, e.g. name, version,
            preprocessing and weights sha256. Non-string values are stored
            as JSON.

    Returns:
        The `Path` written.
    """
    if not isinstance(metadata, dict):
        raise TypeError(f"metadata must be a dict. Received: metadata={metadata!r}")
    check_serializable(model)
    path = Path(path)
    fn = graph_function(model, graph)
    proto, _ = tf2onnx.convert.from_function(fn, input_signature=fn.input_signature, opset=OPSET)
    _order_outputs(proto, list(output_names(model, graph)))
    _fold_reshape_shapes(proto)
    _drop_unused_opsets(proto)
    _check_names(proto, [spec.name for spec in fn.input_signature], list(output_names(model, graph)), graph)
    for value in [*proto.graph.input, *proto.graph.output]:
        value.type.tensor_type.shape.dim[0].dim_param = BATCH_DIM
    onnx.helper.set_model_props(
        proto, {str(k): v if isinstance(v, str) else json.dumps(v, sort_keys=True) for k, v in metadata.items()}
    )
    onnx.checker.check_model(proto, full_check=True)
    atomic_write_bytes(path, proto.SerializeToString())
    return path


def _order_outputs(proto, names):
    # tf2onnx emits a dict-returning function's outputs sorted by key
    # ("log_var", "mean"); the contract order is ("mean", "log_var").
    by_name = {v.name: v for v in proto.graph.output}
    if sorted(by_name) == sorted(names) and list(by_name) != names:
        ordered = [by_name[n] for n in names]
        del proto.graph.output[:]
        proto.graph.output.extend(ordered)


def _fold_reshape_shapes(proto):
    """Make constant every Reshape target that only the batch makes dynamic.

    tf2onnx computes a Flatten's target shape at run time (Shape, Gather,
    Slice, Concat, Cast), although only the batch varies; tract refuses such
    a Reshape ("shape input is variable"). onnx's own shape inference with
    data propagation knows the output shape ([N, 1568]): where exactly one of
    its dimensions is symbolic, the target becomes an initializer with -1
    there, and the shape arithmetic that fed it is removed when nothing else
    uses it. A Reshape with more than one dynamic dimension (a graph of
    dynamic height and width) is left as it is.
    """
    inferred = onnx.shape_inference.infer_shapes(proto, data_prop=True)
    shapes = {v.name: v.type.tensor_type.shape for v in
              [*inferred.graph.value_info, *inferred.graph.output]}
    constant = {t.name for t in proto.graph.initializer}
    for node in proto.graph.node:
        if node.op_type != "Reshape" or node.input[1] in constant or node.output[0] not in shapes:
            continue
        dims = shapes[node.output[0]].dim
        static = [d.dim_value if d.HasField("dim_value") else None for d in dims]
        if len(dims) == 0 or static.count(None) != 1 or 0 in static:
            continue
        name = f"{node.output[0]}__static_shape"
        target = np.array([-1 if d is None else d for d in static], np.int64)
        proto.graph.initializer.append(onnx.numpy_helper.from_array(target, name))
        constant.add(name)
        node.input[1] = name
    _prune(proto)


def _prune(proto):
    """Remove the nodes and initializers no graph output depends on."""
    needed = {v.name for v in proto.graph.output}
    kept = []
    for node in reversed(proto.graph.node):
        if any(o in needed for o in node.output):
            kept.append(node)
            needed.update(i for i in node.input if i)
    del proto.graph.node[:]
    proto.graph.node.extend(reversed(kept))
    initializers = [t for t in proto.graph.initializer if t.name in needed]
    del proto.graph.initializer[:]
    proto.graph.initializer.extend(initializers)


def _drop_unused_opsets(proto):
    # tf2onnx declares ai.onnx.ml whether or not a node uses it; some runtimes
    # (tract) then refuse or warn. Keep the default domain and the used ones.
    used = {node.domain for node in proto.graph.node} | {""}
    kept = [op for op in proto.opset_import if op.domain in used or op.domain == "ai.onnx"]
    del proto.opset_import[:]
    proto.opset_import.extend(kept)


def _check_names(proto, inputs, outputs, graph):
    got_inputs = [v.name for v in proto.graph.input]
    got_outputs = [v.name for v in proto.graph.output]
    if got_inputs != inputs or got_outputs != outputs:
        raise RuntimeError(
            f"tf2onnx renamed the {graph!r} graph's tensors. Expected inputs "
            f"{inputs} and outputs {outputs}. Received: inputs={got_inputs}, "
            f"outputs={got_outputs}."
        )
