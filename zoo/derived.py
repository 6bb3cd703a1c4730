"""Build a *derived* artifact (weights from a pinned third-party package) into the cache.

Only the card, `test_data/` and the PNGs of such an entry are published. The first
`zoo pull` (or `zoo.load`, `zoo.runtime.load`) builds the heavy files, the
`spec.derived["builds"]` list, from the installed package: the entry's builder
reads the package file (checking its sha256), and the result is saved, exported
to ONNX and accepted only when it reproduces the committed test data to the
card's tolerance. Later calls reuse it once the stamp `derived.json` vouches for
every built file's sha256. Building needs TensorFlow (the full install); a
deployment machine can receive the built folder instead.
"""

from __future__ import annotations

import fcntl
import json
import shutil
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

from zoo.io import atomic_write_text, sha256_file

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
         "files": hashes}, indent=2) + "\n")


def is_built(spec, folder) -> bool:
    """True when every built file of `spec` in `folder` matches the stamp."""
    folder = Path(folder)
    try:
        stamp = json.loads((folder / STAMP).read_text())
    except (OSError, ValueError):
        return False
    if stamp.get("source_sha256") != spec.derived["sha256"]:
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
    with open(folder / ".build.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _build(spec, folder: Path) -> None:
    import zoo
    from export.onnx import export_onnx
    from export.parity import verify_test_data

    card = json.loads((folder / "card.json").read_text())
    print(f"zoo: building {spec.name} from {spec.derived['package']} into {folder} "
          "(once; about 20 s)", file=sys.stderr, flush=True)
    staging = Path(tempfile.mkdtemp(prefix=".build-", dir=folder))
    try:
        model = zoo.create(spec.name)  # reads and hash-checks the package file
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
