"""Registry, public API and import weight."""

import subprocess
import sys

import pytest

import zoo
from zoo import registry
from zoo.registry import ModelSpec


def _spec(**fields):
    base = dict(name="toy", builder="zoo.models.classifiers:build_cnn_classifier",
                task="classification", covers="tests", summary="toy",
                input_shape=(8, 8, 1), graphs=("classify",), dataset="digits",
                defaults={"input_shape": (8, 8, 1), "widths": (4,)})
    return ModelSpec(**{**base, **fields})


def test_import_zoo_does_not_import_tensorflow():
    code = ("import sys, zoo; zoo.list_models(); zoo.info('fmnist_cnn'); "
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, "
            "sorted(m for m in sys.modules if m.startswith(('tensorflow', 'keras')))")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_registering_a_name_twice_raises(monkeypatch):
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    registry.register(_spec())
    with pytest.raises(ValueError, match="'toy' is already registered"):
        registry.register(_spec())


def test_unknown_name_lists_close_matches():
    with pytest.raises(zoo.UnknownModelError, match="Did you mean: fmnist_cnn"):
        zoo.info("fmnist_cn")


def test_spec_is_frozen():
    spec = zoo.info("fmnist_cnn")
    with pytest.raises(Exception):
        spec.task = "embedding"
    with pytest.raises(TypeError):
        spec.defaults["widths"] = (1,)


@pytest.mark.parametrize("field, value, message", [
    ("task", "painting", "Unknown task"),
    ("graphs", ("embedd",), "Graphs of 'toy'"),
    ("graphs", (), "Graphs of 'toy'"),
    ("builder", "no_colon", "builder of 'toy'"),
    ("name", "bad name", "letters, digits"),
    ("distance", "manhattan", "distance of 'toy'"),
    ("tiny", {"depth": 3}, r"Unknown hyper-parameter\(s\) \['depth'\]"),
])
def test_bad_specs_are_refused(field, value, message):
    with pytest.raises((ValueError, TypeError), match=message):
        _spec(**{field: value})


def test_create_refuses_unknown_overrides():
    with pytest.raises(TypeError, match="Valid ones"):
        zoo.create("fmnist_cnn", depth=4)


def test_create_applies_overrides():
    model = zoo.create("fmnist_cnn", widths=(4, 8), input_shape=(16, 16, 1))
    assert tuple(model.inputs[0].shape) == (None, 16, 16, 1)


def test_load_without_published_weights_says_what_to_do(monkeypatch):
    spec = _spec()
    monkeypatch.setattr(zoo, "info", lambda name: spec)
    with pytest.raises(Exception, match="zoo.create"):
        zoo.load("toy")


def test_list_models_filters_by_task():
    assert "fmnist_cnn" in zoo.list_models("classification")
    assert "fmnist_cnn" not in zoo.list_models("embedding")
