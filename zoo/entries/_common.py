"""`entry()`: register a spec with its published hashes and sizes from weights.json."""

import json
from pathlib import Path

from zoo.registry import ModelSpec, register

# Published {file: {"sha256", "bytes"}}; `zoo export` into saved_models/ rewrites
# the file, so no hash or size is ever typed by hand.
WEIGHTS_JSON = Path(__file__).resolve().parents[1] / "weights.json"
_WEIGHTS = json.loads(WEIGHTS_JSON.read_text())


def entry(**fields) -> ModelSpec:
    """Register `ModelSpec(**fields)` with the entry's published file hashes and sizes."""
    files = _WEIGHTS.get(fields["name"], {})
    return register(ModelSpec(weights={f: e["sha256"] for f, e in files.items()},
                              sizes={f: e["bytes"] for f, e in files.items()}, **fields))
