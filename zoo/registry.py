"""The zoo registry: one frozen `ModelSpec` per entry.

Nothing here imports TensorFlow. Builders and recipes are named as
`"package.module:function"` strings and are imported only when used.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
import types
from typing import Any, Callable, Mapping

TASKS = (
    "embedding",
    "verification",
    "identification",
    "classification",
    "reconstruction",
    "generative",
    "detection",
)
GRAPHS = ("embed", "embed_query", "verify", "classify", "identify", "encode", "decode",
          "reconstruct", "score_map")


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """Everything the zoo knows about one entry.

    Args:
        name: unique registry name, also the `saved_models/` folder name.
        builder: `"module:function"`; called as `builder(**hparams)` and
            returns a `keras.Model`.
        task: one of `TASKS`.
        covers: the lecture section this entry implements.
        summary: one sentence for `zoo list`.
        input_shape: the (H, W, C) float32 input the model takes.
        graphs: export graph names (see `GRAPHS`).
        dataset: name of the training dataset.
        defaults: default hyper-parameters passed to the builder.
        recipe: the module (e.g. `"zoo.training.recipes.fmnist_cnn"`) whose
            `train(run_dir, ...)` and `evaluate(model)` functions train and
            measure the entry, or None when it is not trainable on its own.
        weights: published files and their sha256, e.g.
            `{"model.keras": "ab12..."}`; empty until the entry is published.
        sizes: the size in bytes of each published file, e.g.
            `{"model.keras": 1234}`; `zoo.hub` reads no byte past it.
        version: artifact version string.
        preprocess: how a uint8 image becomes the model input; the card and
            the ONNX runtime apply it. Keys: source, resize [H, W], invert,
            scale, channels. Defaults to 1/255 scaling at `input_shape`.
        distance: "cosine" or "euclidean" for embedding entries, else None.
        tiny: hyper-parameter overrides for a tiny, fast configuration, used
            by the tests and by `zoo train --quick`.
        derived: for an artifact whose weights come from a pinned third-party
            package: {"package": pip requirement, "file": the package file,
            "sha256": its hash, "builds": the files built into the cache}.
            Only the card, test_data and PNGs are published; `zoo.hub.pull`
            builds the rest once (see `zoo.derived`).
    """

    name: str
    builder: str
    task: str
    covers: str
    summary: str
    input_shape: tuple
    graphs: tuple
    dataset: str
    defaults: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    recipe: str | None = None
    weights: Mapping[str, str] = dataclasses.field(default_factory=dict)
    sizes: Mapping[str, int] = dataclasses.field(default_factory=dict)
    version: str = "1.0.0"
    preprocess: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    distance: str | None = None
    tiny: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    derived: Mapping[str, Any] | None = None

    def __post_init__(self):
        if not self.name or not self.name.replace("_", "").isalnum():
            raise ValueError(
                "A model name must be non-empty letters, digits and '_'. "
                f"Received: name={self.name!r}"
            )
        if self.task not in TASKS:
            raise ValueError(
                f"Unknown task for {self.name!r}. Expected one of {TASKS}. "
                f"Received: task={self.task!r}"
            )
        bad = [g for g in self.graphs if g not in GRAPHS]
        if bad or not self.graphs:
            raise ValueError(
                f"Graphs of {self.name!r} must be a non-empty subset of "
                f"{GRAPHS}. Received: graphs={self.graphs!r}"
            )
        if ":" not in self.builder:
            raise ValueError(
                f"builder of {self.name!r} must look like "
                f"'package.module:function'. Received: builder={self.builder!r}"
            )
        if self.recipe is not None and ":" in self.recipe:
            raise ValueError(
                f"recipe of {self.name!r} must be a module path like "
                f"'zoo.training.recipes.NAME'. Received: recipe={self.recipe!r}"
            )
        if self.distance not in (None, "cosine", "euclidean"):
            raise ValueError(
                f"distance of {self.name!r} must be 'cosine', 'euclidean' or "
                f"None. Received: distance={self.distance!r}"
            )
        preprocess = {
            "source": "uint8 grayscale HxW",
            "resize": list(self.input_shape[:2]),
            "invert": False,
            "scale": 1.0 / 255.0,
            "channels": self.input_shape[-1],
            **self.preprocess,
        }
        object.__setattr__(self, "preprocess", types.MappingProxyType(preprocess))
        # Freeze the mappings too, so a spec cannot drift after registration.
        object.__setattr__(self, "defaults", types.MappingProxyType(dict(self.defaults)))
        object.__setattr__(self, "weights", types.MappingProxyType(dict(self.weights)))
        bad = {f: n for f, n in self.sizes.items()
               if f not in self.weights or isinstance(n, bool) or not isinstance(n, int) or n < 0}
        if bad:
            raise ValueError(f"sizes of {self.name!r} must be byte counts >= 0 of files in "
                             f"weights. Received: sizes={bad!r}")
        object.__setattr__(self, "sizes", types.MappingProxyType(dict(self.sizes)))
        self.hparams(**self.tiny)  # refuses unknown keys now, not in a test later
        object.__setattr__(self, "tiny", types.MappingProxyType(dict(self.tiny)))
        if self.derived is not None:
            missing = sorted({"package", "file", "sha256", "builds"} - set(self.derived))
            if missing:
                raise ValueError(f"derived of {self.name!r} lacks {missing}. Received: "
                                 f"derived={dict(self.derived)!r}")
            object.__setattr__(self, "derived", types.MappingProxyType(dict(self.derived)))
        object.__setattr__(self, "input_shape", tuple(self.input_shape))
        object.__setattr__(self, "graphs", tuple(self.graphs))

    def to_dict(self) -> dict:
        """The spec as plain JSON-able data."""
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}

    @property
    def pretrained(self) -> bool:
        """True when published weights exist (or, derived, can be built) for this entry."""
        return "model.keras" in self.weights or (self.derived is not None and "card.json" in self.weights)

    def resolve_builder(self) -> Callable[..., Any]:
        return _import(self.builder)

    def resolve_recipe(self):
        """The recipe module, with its `train` and `evaluate` functions."""
        if self.recipe is None:
            raise ValueError(f"Model {self.name!r} has no training recipe.")
        return importlib.import_module(self.recipe)

    def hparams(self, **overrides) -> dict:
        """The defaults merged with `overrides`; unknown keys are refused."""
        unknown = sorted(set(overrides) - set(self.defaults))
        if unknown:
            raise TypeError(
                f"Unknown hyper-parameter(s) {unknown} for {self.name!r}. "
                f"Valid ones: {sorted(self.defaults)}"
            )
        return {**self.defaults, **overrides}


class UnknownModelError(KeyError):
    """Raised for a name that is not in the registry."""

    def __str__(self):  # KeyError would otherwise quote the message.
        return str(self.args[0])


_REGISTRY: dict[str, ModelSpec] = {}


def register(spec: ModelSpec) -> ModelSpec:
    """Add `spec` to the registry; a name may be registered only once."""
    if spec.name in _REGISTRY:
        raise ValueError(
            f"Model {spec.name!r} is already registered. Pick another name."
        )
    _REGISTRY[spec.name] = spec
    return spec


def get(name: str) -> ModelSpec:
    """Return the spec for `name`, or raise naming the closest matches."""
    _load_entries()
    try:
        return _REGISTRY[name]
    except KeyError:
        close = difflib.get_close_matches(str(name), _REGISTRY, n=3, cutoff=0.5)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise UnknownModelError(
            f"Unknown model {name!r}.{hint} Run `zoo list` to see all "
            f"{len(_REGISTRY)} models."
        ) from None


def names() -> list[str]:
    _load_entries()
    return sorted(_REGISTRY)


def _load_entries():
    # The entries live in the zoo.entries package; importing it registers them.
    importlib.import_module("zoo.entries")


def _plain(value):
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    return value


def _import(path: str):
    module, _, attr = path.partition(":")
    return getattr(importlib.import_module(module), attr)
