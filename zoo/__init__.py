"""repr-zoo: a Keras 3 model zoo for representation learning.

Public API (importing `zoo` does not import TensorFlow):

    zoo.list_models()                 -> ["fmnist_cnn", ...]
    zoo.info(name)                    -> ModelSpec
    zoo.create(name, **overrides)     -> an untrained keras.Model
    zoo.load(name, pretrained=True)   -> the published keras.Model
"""

from zoo import _layout

_layout.install()  # zoo.training and zoo.export, in a source checkout

from zoo.registry import ModelSpec, UnknownModelError  # noqa: E402

__all__ = ["ModelSpec", "UnknownModelError", "create", "info", "list_models", "load"]
__version__ = "0.1.0"


def list_models(task: str | None = None) -> list[str]:
    """Names of all entries, optionally only those of one `task`."""
    from zoo import registry

    return [n for n in registry.names() if task is None or registry.get(n).task == task]


def info(name: str) -> ModelSpec:
    """The frozen spec of entry `name`."""
    from zoo import registry

    return registry.get(name)


def create(name: str, **overrides):
    """Build entry `name` with fresh weights.

    Args:
        name: a registry name.
        **overrides: hyper-parameters replacing the spec's defaults.
    """
    spec = info(name)
    from zoo import backend  # noqa: F401  (pins the Keras backend)

    return spec.resolve_builder()(**spec.hparams(**overrides))


def load(name: str, pretrained: bool = True):
    """Load entry `name`.

    Args:
        name: a registry name.
        pretrained: True downloads (or reuses the cached) published weights,
            checks their sha256 and loads them with `safe_mode=True`; False is
            the same as `create(name)`.
    """
    if not pretrained:
        return create(name)
    from zoo import hub

    return hub.load_pretrained(info(name))
