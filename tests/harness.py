"""One harness for every zoo model: random batches, training step, saving.

Family issues extend `random_batch` when a task needs other targets.
"""

import json

import numpy as np

from zoo import backend  # noqa: F401

import keras

from zoo.models.graphs import concrete_shape


def random_inputs(model, n, seed=0):
    """A dict of uniform [0, 1) float32 inputs keyed by the model's input names."""
    rng = np.random.default_rng(seed)
    return {t.name: rng.random((n, *concrete_shape(t.shape[1:]))).astype("float32")
            for t in model.inputs}


def random_batch(spec, model, n=8, seed=0):
    """(x, y) for one training step of `model`, with targets fitting its task."""
    rng = np.random.default_rng(seed)
    x = random_inputs(model, n, seed)
    if spec.task in ("classification", "identification"):
        y = rng.integers(0, model.outputs[0].shape[-1], n)
    elif spec.task == "verification":
        y = (np.arange(n) % 2).astype("float32")
    elif spec.task == "embedding":
        y = np.arange(n) % 2
    elif spec.task == "detection":  # an all-background score map
        y = np.zeros_like(np.asarray(model(x["image"], training=False)))
    else:  # reconstruction, generative: the input is the target
        y = next(iter(x.values()))
    return x, y


def assert_keras_round_trip(model, x, tmp_path, atol=1e-6):
    """Save to .keras, reload with safe_mode=True, compare outputs."""
    path = tmp_path / "model.keras"
    model.save(path)
    again = keras.saving.load_model(path, safe_mode=True)
    before = model(x, training=False)
    after = again(x, training=False)
    for a, b in zip(keras.tree.flatten(before), keras.tree.flatten(after)):
        np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=0, atol=atol)
    # JSON-normalised: tuples in a config come back as lists.
    assert _json(again.get_config()) == _json(model.get_config())
    return again


def _json(config):
    return json.loads(json.dumps(config, default=str))
