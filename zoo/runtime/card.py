"""Read and check `card.json`, and read files only after their sha256 matches."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from zoo.hub import HubError, IntegrityError

SCHEMA = 1
DISTANCES = ("cosine", "euclidean")
DIRECTIONS = ("greater", "less")


class ArtifactError(HubError):
    """An artifact folder or its card breaks the contract (section 2)."""


def read_card(folder) -> dict:
    """The parsed and checked `card.json` of an artifact folder.

    Args:
        folder: a folder holding `card.json` and the ONNX files it lists.
    """
    path = Path(folder) / "card.json"
    if not path.is_file():
        raise ArtifactError(
            f"No card.json in {str(folder)!r}. Pass an artifact folder "
            "(saved_models/NAME/ or the one `zoo pull NAME` prints) or a "
            f"registry name. Received: folder={str(folder)!r}"
        )
    try:
        card = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as error:
        raise ArtifactError(f"{path} is not valid JSON ({error}). Re-export or re-pull it.") from None
    _check(card, path)
    return card


def _check(card, path):
    def fail(what, value):
        raise ArtifactError(f"{path}: {what}. Received: {value}")

    if not isinstance(card, dict) or card.get("schema") != SCHEMA:
        fail(f"expected a card with schema {SCHEMA}",
             f"schema={card.get('schema') if isinstance(card, dict) else card!r}")
    graphs = card.get("graphs")
    if not isinstance(graphs, dict) or not graphs:
        fail("'graphs' must map graph names to {file, inputs, outputs}", f"graphs={graphs!r}")
    for name, graph in graphs.items():
        ok = (isinstance(graph, dict) and isinstance(graph.get("file"), str)
              and all(isinstance(graph.get(k), dict) and graph[k] for k in ("inputs", "outputs")))
        if not ok:
            fail(f"graph {name!r} needs 'file', 'inputs' and 'outputs'", f"graphs[{name!r}]={graph!r}")
        if not inside(path.parent, graph["file"]):
            fail(f"graph {name!r} names a file outside the artifact folder; a card may only "
                 "name files inside its own folder", f"file={graph['file']!r}")
        for io in ("inputs", "outputs"):
            for tensor, shape in graph[io].items():
                if not (isinstance(shape, list) and all(isinstance(d, int) for d in shape)):
                    fail(f"the shape of {io} {tensor!r} of graph {name!r} must be a list of ints",
                         f"shape={shape!r}")
    if not isinstance(card.get("files"), dict):
        fail("'files' must map file names to {sha256, bytes}", f"files={card.get('files')!r}")
    if not isinstance(card.get("preprocess"), dict):
        fail("'preprocess' must be an object", f"preprocess={card.get('preprocess')!r}")
    if card.get("distance") not in (None, *DISTANCES):
        fail(f"'distance' must be one of {DISTANCES}", f"distance={card['distance']!r}")
    threshold = card.get("threshold")
    if threshold is not None and not (
        isinstance(threshold, dict)
        and isinstance(threshold.get("value"), (int, float))
        and threshold.get("direction") in DIRECTIONS
    ):
        fail(f"'threshold' must be {{'value': number, 'direction': one of {DIRECTIONS}}}",
             f"threshold={threshold!r}")


def inside(folder, file) -> bool:
    """True when `file` is a relative path that stays inside `folder`, symlinks resolved."""
    if not file or "\\" in file or Path(file).is_absolute() or ".." in Path(file).parts:
        return False
    root = Path(folder).resolve()
    target = (root / file).resolve()
    return target != root and root in target.parents


def verified_bytes(folder, card, file) -> bytes:
    """The bytes of `file`, after checking them against `card["files"]`.

    Args:
        folder: the artifact folder.
        card: its parsed card.
        file: a file name relative to `folder`.
    """
    entry = card["files"].get(file)
    expected = entry.get("sha256") if isinstance(entry, dict) else None
    if file in card.get("derived", {}).get("builds", ()):  # built here, not published
        from zoo import derived

        entry = expected = derived.built_sha256(folder, card, file)
    if not isinstance(expected, str):
        raise IntegrityError(
            f"card.json lists no sha256 for {file!r}, so it cannot be checked "
            f"and is not loaded. Re-export the artifact. Received: files[{file!r}]={entry!r}"
        )
    if not inside(folder, file):
        raise ArtifactError(f"{file!r} is outside the artifact folder {str(folder)!r}, so it "
                            f"is not read. Received: file={file!r}")
    path = Path(folder) / file
    if not path.is_file():
        raise ArtifactError(f"{file!r} is missing from {str(folder)!r}. Re-pull or re-export the artifact.")
    data = path.read_bytes()
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected.lower():
        raise IntegrityError(
            f"sha256 mismatch for {file!r} in {str(folder)!r}: expected {expected}, "
            f"got {actual}. The file is corrupt or was modified; re-pull or re-export it."
        )
    return data
