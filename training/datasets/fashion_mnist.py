"""Fashion-MNIST (Xiao, Rasul & Vollgraf 2017) from IDX gz files, or TFDS.

Search order: `$ZOO_DATA_DIR`, then the Debian package folder
`/usr/share/datasets/fashion-mnist`, then `tensorflow_datasets` (downloads).
A folder is used when it holds the four IDX gz files of the upstream
release. Both the upstream gz files and Debian's re-compressed copies (the
same IDX content, smaller gzip header) pass the sha256 check.
"""

from __future__ import annotations

import functools
import gzip
import os
import zlib
from pathlib import Path

import numpy as np

from zoo.training.datasets._files import DataCorruptError, DataMissingError, verify_file

ENV_VAR = "ZOO_DATA_DIR"
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
CLASS_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
               "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
_COUNTS = {"train": 60_000, "test": 10_000}
# size -> sha256. Debian: `dataset-fashion-mnist` 2020 package. Upstream: the
# zalandoresearch release, as listed in tensorflow_datasets' url_checksums.
KNOWN_FILES = {
    "train-images-idx3-ubyte.gz": {
        26421856: "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7",
        26421880: "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
    },
    "train-labels-idx1-ubyte.gz": {
        29491: "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056",
        29515: "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
    },
    "t10k-images-idx3-ubyte.gz": {
        4422079: "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa",
        4422102: "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
    },
    "t10k-labels-idx1-ubyte.gz": {
        5125: "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05",
        5148: "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
    },
}
def _missing_help() -> str:
    return (
        "Fashion-MNIST was not found. Fix it in one of three ways: "
        "(1) `sudo apt-get install dataset-fashion-mnist` (files land in "
        f"{DEBIAN_DIR}); (2) set {ENV_VAR} to a folder holding the four IDX gz files "
        f"({', '.join(FILES['train'] + FILES['test'])}), currently "
        f"{ENV_VAR}={os.environ.get(ENV_VAR)!r}; (3) go online so TFDS can download "
        "it: `tensorflow_datasets.load('fashion_mnist')`."
    )


def load_fashion_mnist(split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """Load one official split.

    For a validation set, split the train arrays with
    `zoo.training.datasets.validation_split` (fixed, seeded, stratified).

    Args:
        split: "train" (60,000 images) or "test" (10,000 images).

    Returns:
        `(images, labels)`: uint8 (N, 28, 28), ink bright on a black
        background, and int64 (N,) in 0..9 (see `CLASS_NAMES`).
    """
    if split not in FILES:
        raise ValueError(
            f"`split` must be 'train' or 'test'; for validation data use "
            f"`validation_split` on the train split. Received: split={split!r}"
        )
    folder = _find_folder(split)
    if folder is None:
        try:
            images, labels = _load_tfds(split)
        except Exception as e:
            raise DataMissingError(f"{_missing_help()} (TFDS failed with: {e!r})") from e
    else:
        images, labels = (a.copy() for a in _read_split(folder, split))
    n = _COUNTS[split]
    if images.shape != (n, 28, 28) or labels.shape != (n,) or not 0 <= labels.min() <= labels.max() <= 9:
        raise DataCorruptError(
            f"Fashion-MNIST {split} from {folder or 'TFDS'} is not {n} 28x28 images with labels "
            f"0..9. Delete and re-fetch it. Received: images.shape={images.shape}, "
            f"labels.shape={labels.shape}"
        )
    return images, labels


def _search_dirs() -> list[Path]:
    env = os.environ.get(ENV_VAR)
    return ([Path(env)] if env else []) + [DEBIAN_DIR]


def _find_folder(split: str) -> Path | None:
    for folder in _search_dirs():
        present = [(folder / name).is_file() for name in FILES[split]]
        if all(present):
            return folder
        if any(present):
            missing = [n for n, p in zip(FILES[split], present) if not p]
            raise DataMissingError(
                f"{str(folder)!r} holds only part of Fashion-MNIST {split}: missing "
                f"{missing}. {_missing_help()} Received: folder={str(folder)!r}"
            )
    return None


def _read_split(folder: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    arrays = []
    for name, ndim in zip(FILES[split], (3, 1)):
        path = folder / name
        known = KNOWN_FILES[name]
        verify_file(path, tuple(known.values()), tuple(known))
        stat = path.stat()
        arrays.append(_read_idx(str(path.resolve()), ndim, stat.st_size, stat.st_mtime_ns))
    images, labels = arrays
    return images, labels.astype(np.int64)


@functools.lru_cache(maxsize=4)
def _read_idx(path: str, ndim: int, size: int = 0, mtime_ns: int = 0) -> np.ndarray:
    """Parse a gzipped IDX file of unsigned bytes; `size`/`mtime_ns` key the cache."""
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError, zlib.error) as e:
        raise DataCorruptError(
            f"Cannot decompress {path!r} ({e}); it is truncated or not gzip. "
            f"Replace it with a fresh copy. Received: path={path!r}"
        ) from e
    header = 4 + 4 * ndim
    magic = raw[:4].hex()
    if magic != f"000008{ndim:02x}":
        raise DataCorruptError(
            f"{path!r} is not a {ndim}-D uint8 IDX file: magic number 0x{magic}, expected "
            f"0x000008{ndim:02x}. Replace it with a fresh copy. Received: path={path!r}"
        )
    dims = np.frombuffer(raw[4:header], ">u4").astype(np.int64) if len(raw) >= header else None
    if dims is None or len(raw) != header + int(np.prod(dims)):
        raise DataCorruptError(
            f"{path!r} has {len(raw)} bytes after decompression, which does not match its "
            f"IDX header dims {None if dims is None else dims.tolist()}. Replace it with a "
            f"fresh copy. Received: path={path!r}"
        )
    array = np.frombuffer(raw, np.uint8, offset=header).reshape(dims)
    array.flags.writeable = False
    return array


def _load_tfds(split: str) -> tuple[np.ndarray, np.ndarray]:
    import tensorflow_datasets as tfds

    images, labels = tfds.as_numpy(
        tfds.load("fashion_mnist", split=split, batch_size=-1, as_supervised=True)
    )
    return np.asarray(images[..., 0], np.uint8), np.asarray(labels, np.int64)
