"""`entry()`: register a spec with its published hashes from weights.json."""

import json
from pathlib import Path

from zoo.registry import ModelSpec, register

# Published sha256 values; `zoo export` into saved_models/ rewrites the file,
# so no hash is ever typed by hand.
_WEIGHTS = json.loads((Path(__file__).parents[1] / "weights.json").read_text())


def entry(**fields) -> ModelSpec:
    """Register `ModelSpec(**fields)` with the entry's published file hashes."""
    return register(ModelSpec(weights=_WEIGHTS.get(fields["name"], {}), **fields))
