"""Which part of a zoo model each export graph is.

Convention: for graph G, a nested sub-model layer named G (e.g. "encode",
"decode", "embed") is used when the model has one; otherwise the model itself
is graph G. Input names come from the Keras `Input` names; output names are
fixed per graph (the artifact contract).

A model may declare extra named inputs and outputs of a graph, after the
contract's, in a `graph_extras` attribute: `{graph: {"inputs": names,
"outputs": names}}`. They carry side information the graph needs besides
the standard tensors, e.g. cae_unpool's pooling positions: its `encode`
also outputs `argmax_1`, `argmax_2` and its `decode` takes them back. An
extra input of `decode` is the `encode` output of the same name, so
`decode(**encode(images))` reconstructs the images.
"""

GRAPH_INPUTS = {
    "embed": ("image",),
    "embed_query": ("image",),
    "verify": ("image_a", "image_b"),
    "classify": ("image",),
    "identify": ("image",),
    "encode": ("image",),
    "decode": ("code",),
    "reconstruct": ("image",),
    # A fully convolutional detector: height and width are dynamic too.
    "score_map": ("image",),
}
GRAPH_OUTPUTS = {
    "embed": ("embedding",),
    # The query-side tower of a pseudo-Siamese (unshared) model; "embed" is
    # then its gallery side.
    "embed_query": ("embedding",),
    "verify": ("score",),
    "classify": ("probabilities",),
    # Per enrolled identity (the card's "classes"), a similarity score.
    "identify": ("scores",),
    "encode": ("code",),  # a VAE's encode outputs ("mean", "log_var")
    "decode": ("image",),
    # ONNX forbids an output named like an input, so not "image".
    "reconstruct": ("reconstruction",),
    # One score per detector window position, [N, h, w, 1] (zoo.faces.detector).
    "score_map": ("score_map",),
}
# The side of random inputs for a graph whose height and width are dynamic: it
# must hold one detector window (80x80 for face_detector).
DYNAMIC_SIDE = 96


def concrete_shape(shape, side=DYNAMIC_SIDE) -> tuple:
    """`shape` (no batch dimension) with each dynamic (None) dimension set to `side`.

    Args:
        shape: a Keras input shape without its batch dimension, e.g. (None, None, 3).
        side: the size given to dynamic dimensions.
    """
    return tuple(side if d is None else d for d in shape)


def graph_model(model, graph):
    """The `keras.Model` that computes export graph `graph` of `model`.

    Args:
        model: a zoo model (the object `zoo.create` returns).
        graph: a graph name from `GRAPH_INPUTS`.
    """
    if graph not in GRAPH_INPUTS:
        raise ValueError(f"Unknown graph. Expected one of {sorted(GRAPH_INPUTS)}. Received: graph={graph!r}")
    for layer in model.layers:
        if layer.name == graph and hasattr(layer, "inputs"):
            return layer
    return model


def all_layers(model) -> list:
    """Every layer of `model`, itself and nested ones included, each once,
    parents before children.

    Keras's `_flatten_layers` is the only walk that also reaches layers
    nested in custom layers (not only in sub-models' `layers`).

    Args:
        model: a `keras.Model` (or layer).
    """
    return list(model._flatten_layers(include_self=True, recursive=True))


def extra_names(model, graph, io):
    """The extra `io` ("inputs" or "outputs") names `model` declares for
    `graph` in its `graph_extras` (see the module docstring), or ()."""
    if io not in ("inputs", "outputs"):
        raise ValueError(f'io must be "inputs" or "outputs". Received: io={io!r}')
    return tuple(getattr(model, "graph_extras", {}).get(graph, {}).get(io, ()))


def input_names(model, graph):
    """Input names of `graph`: the contract's, then the model's extra inputs."""
    return GRAPH_INPUTS[graph] + extra_names(model, graph, "inputs")


def output_names(model, graph):
    """Output names of `graph`: the contract's, then the model's extra
    outputs; a two-output `encode` without extras is ("mean", "log_var")."""
    sub = graph_model(model, graph)
    extra = extra_names(model, graph, "outputs")
    if graph == "encode" and len(sub.outputs) == 2 and not extra:
        return ("mean", "log_var")
    names = GRAPH_OUTPUTS[graph] + extra
    if len(sub.outputs) != len(names):
        raise ValueError(
            f"Graph {graph!r} of {model.name!r} has {len(sub.outputs)} outputs; "
            f"the contract expects {len(names)} {names}. Declare extra outputs in the "
            "model's graph_extras (see zoo.models.graphs)."
        )
    return names
