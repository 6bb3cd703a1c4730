"""SavedModel export: one named serving signature per export graph."""

from zoo import backend  # noqa: F401  (pins the TF backend before Keras)

import shutil
import tempfile
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from zoo.export.signatures import graph_functions
from zoo.io import replace_dir


def export_savedmodel(model, graphs, out_dir):
    """Write `model` as a SavedModel with one signature per graph.

    Each signature is named after its graph (`embed`, `verify`, ...), takes
    the contract inputs by name with a dynamic batch dimension and returns a
    dict of the contract outputs. The first graph is also `serving_default`.
    The folder is written beside `out_dir` and then renamed into place, so a
    failed export never leaves a half-written `out_dir`.

    Args:
        model: a built zoo model.
        graphs: graph names, e.g. `spec.graphs`; the first is the default.
        out_dir: destination folder; replaced if it exists.

    Returns:
        The `Path` of the SavedModel folder.
    """
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    archive = keras.export.ExportArchive()
    archive.track(model)
    for graph, fn in graph_functions(model, graphs).items():
        archive.add_endpoint(graph, fn)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        archive.write_out(str(tmp), verbose=False)
        replace_dir(tmp, out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out_dir


def load_savedmodel_signatures(path):
    """The graph signatures of a SavedModel written by `export_savedmodel`.

    Args:
        path: the SavedModel folder.

    Returns:
        `{graph: fn}` where `fn(**inputs)` takes arrays by input name (cast
        to the signature's dtypes) and returns `{output name: numpy array}`;
        `serving_default` is left out.
    """
    path = Path(path)
    if not (path / "saved_model.pb").is_file():
        raise FileNotFoundError(
            f"No SavedModel found. Export one with `export_savedmodel` first. "
            f"Received: path={str(path)!r}"
        )
    loaded = tf.saved_model.load(str(path))
    return {
        name: _numpy_signature(loaded, signature)
        for name, signature in loaded.signatures.items()
        if name != "serving_default"
    }


def _numpy_signature(loaded, signature):
    specs = signature.structured_input_signature[1]

    def call(**inputs):
        tensors = {k: tf.convert_to_tensor(np.asarray(v, specs[k].dtype.as_numpy_dtype if k in specs
                                                      else np.float32))
                   for k, v in inputs.items()}
        return {k: v.numpy() for k, v in signature(**tensors).items()}

    call.loaded = loaded  # keeps the restored variables alive with the callable
    return call
