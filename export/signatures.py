"""Named, batch-dynamic `tf.function`s: one per export graph of a zoo model.

Both exporters (SavedModel and ONNX) trace these functions, so the two
artifacts share input names, output names, shapes and the inference path.
"""

from zoo import backend  # noqa: F401  (pins the TF backend before Keras)

import tensorflow as tf

from zoo.models.graphs import graph_model, input_names, output_names


def keras_input_names(model, graph):
    """The contract input names of `graph`, in the Keras sub-model's order.

    Inputs are matched to the contract names (`input_names`, extras
    included) by Keras `Input` name when the names agree, else by position.

    Args:
        model: a zoo model.
        graph: a graph name from `GRAPH_INPUTS`.
    """
    sub = graph_model(model, graph)
    names = input_names(model, graph)
    keras_names = [t.name for t in sub.inputs]
    if len(keras_names) != len(names):
        raise ValueError(
            f"Graph {graph!r} of {model.name!r} must take {len(names)} "
            f"input(s) named {names}. Received: {len(keras_names)} inputs "
            f"{keras_names}."
        )
    return keras_names if sorted(keras_names) == sorted(names) else list(names)


def input_specs(model, graph):
    """The named `tf.TensorSpec`s of `graph`, in contract order
    (`input_names`), batch dimension `None`, with the Keras `Input` dtype
    (float32, or int64 for indices such as cae_unpool's `argmax_K`).

    Args:
        model: a zoo model.
        graph: a graph name from `GRAPH_INPUTS`.
    """
    sub = graph_model(model, graph)
    tensors = dict(zip(keras_input_names(model, graph), sub.inputs))
    return [tf.TensorSpec((None, *tensors[name].shape[1:]), tf.as_dtype(tensors[name].dtype),
                          name=name)
            for name in input_names(model, graph)]


def graph_function(model, graph, jit_compile=False):
    """A traced `tf.function` computing `graph` of `model` in inference mode.

    The function takes the contract inputs as keyword arguments (see
    `input_specs`) and returns a dict keyed by `output_names(model, graph)`
    of float32 tensors (int64 for integer outputs, e.g. argmax). It always
    calls the model with `training=False`, so dropout and sampling layers
    take their deterministic path. A `verify` score of shape [N, 1] is
    flattened to [N].

    Args:
        model: a built zoo model.
        graph: a graph name from `GRAPH_INPUTS`.
        jit_compile: compile the function with XLA (for benchmarks; the
            exporters trace the plain function).
    """
    sub = graph_model(model, graph)
    specs = input_specs(model, graph)
    names = output_names(model, graph)
    clash = sorted({spec.name for spec in specs} & set(names))
    if clash:
        # ONNX graphs are in SSA form: an output may not reuse an input name.
        raise ValueError(
            f"Graph {graph!r} names output(s) {clash} like its inputs, which "
            "ONNX cannot represent. Give the output a distinct contract name "
            "in zoo.models.graphs.GRAPH_OUTPUTS (e.g. 'reconstruction'). "
            f"Received: inputs={[s.name for s in specs]}, outputs={list(names)}"
        )

    order = keras_input_names(model, graph)

    def compute(*tensors):
        by_name = dict(zip((spec.name for spec in specs), tensors))
        args = [by_name[name] for name in order]
        outputs = sub(args if len(args) > 1 else args[0], training=False)
        if not isinstance(outputs, (list, tuple)):
            outputs = [outputs]
        result = {}
        for name, value in zip(names, outputs):
            value = tf.cast(value, tf.int64 if value.dtype.is_integer else tf.float32)
            if graph == "verify":
                value = _flatten_score(value, model)
            result[name] = value
        return result

    fn = tf.function(compute, input_signature=specs, autograph=False, jit_compile=jit_compile)
    fn.get_concrete_function()  # trace now, so shape errors surface here
    return fn


def graph_functions(model, graphs):
    """`{graph: graph_function(model, graph)}` in the order of `graphs`.

    Args:
        model: a built zoo model.
        graphs: graph names, e.g. `spec.graphs`.
    """
    if isinstance(graphs, str) or not graphs:
        raise ValueError(
            "graphs must be a non-empty list of graph names, e.g. "
            f"['embed']. Received: graphs={graphs!r}"
        )
    return {graph: graph_function(model, graph) for graph in graphs}


def _flatten_score(score, model):
    if score.shape.rank == 2 and score.shape[-1] == 1:
        return tf.squeeze(score, axis=-1)
    if score.shape.rank != 1:
        raise ValueError(
            f"The verify score of {model.name!r} must have shape [N] or "
            f"[N, 1]. Received: shape={tuple(score.shape)}."
        )
    return score
