"""Where the data lives, and the sha256 checks every loader runs before reading."""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Mapping

import numpy as np

from zoo.io import sha256_file

REPO_DATA_DIR = Path(__file__).resolve().parents[2] / "data"


class DataMissingError(FileNotFoundError):
    """A dataset file is not on this machine; the message says how to get it."""


class DataCorruptError(ValueError):
    """A dataset file exists but is truncated, altered or unparsable."""


def data_path(folder: str | os.PathLike | None, default_subdir: str, name: str) -> Path:
    """The path of file `name` in `folder`, or in `data/<default_subdir>/` if None."""
    base = REPO_DATA_DIR / default_subdir if folder is None else Path(folder)
    return base / name


def verify_file(
    path: Path, sha256: str | tuple[str, ...], size: int | tuple[int, ...] | None = None
) -> None:
    """Raise unless `path` exists with one of the expected sha256 values.

    The size is compared first (cheap), then the hash. A passing check is
    cached per process, keyed by path, size and modification time.

    Args:
        path: the file to check.
        sha256: the expected hex digest, or a tuple of accepted digests.
        size: the expected size in bytes (or a tuple of accepted sizes), or
            None to skip the size check.
    """
    path = Path(path)
    expected = (sha256,) if isinstance(sha256, str) else tuple(sha256)
    sizes = (size,) if isinstance(size, int) else size
    if not path.is_file():
        raise DataMissingError(
            f"Dataset file not found: {str(path)!r}. {_restore_hint(path)} "
            f"Received: path={str(path)!r}"
        )
    stat = path.stat()
    if sizes is not None and stat.st_size not in sizes:
        raise DataCorruptError(
            f"Dataset file {str(path)!r} has the wrong size (truncated or replaced): "
            f"expected {' or '.join(map(str, sizes))} bytes, got {stat.st_size}. "
            "Replace it with a fresh copy. "
            f"Received: path={str(path)!r}"
        )
    actual = _sha256(str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if actual not in expected:
        raise DataCorruptError(
            f"Dataset file {str(path)!r} failed its sha256 check: expected "
            f"{' or '.join(expected)}, got {actual}. The file is corrupt or a "
            f"different version; replace it with a fresh copy. Received: path={str(path)!r}"
        )


def _restore_hint(path: Path) -> str:
    try:
        rel = path.resolve().relative_to(REPO_DATA_DIR.parent)
    except ValueError:
        return "Pass `data_dir=` pointing at the folder that holds it."
    return f"It is vendored in the repo: restore it with `git checkout -- {rel}`."


@functools.lru_cache(maxsize=64)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    # size and mtime_ns only key the cache: a rewritten file is hashed again.
    return sha256_file(path)


def load_npz(path: Path, sha256: str, size: int, keys: Mapping[str, tuple]) -> dict:
    """Verify `path`, then load the arrays in `keys` from it.

    Args:
        path: an `.npz` file.
        sha256: its expected hex digest.
        size: its expected size in bytes.
        keys: array name -> expected shape; a missing key or a different shape
            raises DataCorruptError.
    """
    verify_file(path, sha256, size)
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in keys}
    except (KeyError, ValueError, OSError, EOFError) as e:
        raise DataCorruptError(
            f"Cannot read {str(path)!r}: {e}. Replace it with a fresh copy. "
            f"Received: path={str(path)!r}"
        ) from e
    for k, shape in keys.items():
        if arrays[k].shape != shape:
            raise DataCorruptError(
                f"Array {k!r} in {str(path)!r} has shape {arrays[k].shape}, expected "
                f"{shape}. Replace the file with a fresh copy. Received: path={str(path)!r}"
            )
    return arrays
