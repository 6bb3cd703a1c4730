"""ONNX-only inference for deployment: numpy + onnxruntime, no TensorFlow.

    model = zoo.runtime.load("saved_models/siamese_contrastive")  # or a name
    score, is_match = model.verify(images_a, images_b)
"""

from __future__ import annotations

import os
from pathlib import Path

from zoo.runtime.card import ArtifactError, read_card
from zoo.runtime.model import RuntimeModel, pair_score
from zoo.runtime.preprocess import preprocess

__all__ = ["ArtifactError", "RuntimeModel", "load", "pair_score", "preprocess", "read_card"]


def load(name_or_dir, *, intra_op_num_threads=None, timeout=None) -> RuntimeModel:
    """A `RuntimeModel` for an artifact folder or a registry name.

    Args:
        name_or_dir: a folder holding `card.json`, or a registry name whose
            card and ONNX files are pulled into the cache (see `zoo.hub`).
        intra_op_num_threads: threads per onnxruntime operator; None lets
            onnxruntime decide.
        timeout: seconds per network operation when pulling.
    """
    path = Path(name_or_dir)
    if path.is_dir():
        return RuntimeModel(path, intra_op_num_threads=intra_op_num_threads)
    if not isinstance(name_or_dir, str) or os.sep in name_or_dir or "/" in name_or_dir:
        raise ArtifactError(
            "Expected an artifact folder or a registry name; no such folder. "
            f"Received: name_or_dir={str(name_or_dir)!r}"
        )
    from zoo import hub, registry

    spec = registry.get(name_or_dir)
    if "card.json" not in spec.weights:
        raise hub.NotPublishedError(
            f"Model {spec.name!r} has no published card.json, so it cannot run "
            f"without Keras. Use zoo.load({spec.name!r}) or `zoo train "
            f"{spec.name}`. Received: weights={sorted(spec.weights)!r}"
        )
    files = [f for f in spec.weights if f == "card.json" or f.endswith(".onnx")]
    folder = hub.pull(spec, files, timeout=timeout)
    return RuntimeModel(folder, intra_op_num_threads=intra_op_num_threads)
