"""The ORL / AT&T Database of Faces: 40 subjects x 10 grey images of 112x92.

Vendored as `data/att_faces/att_faces.npz` (see its SOURCE.md). Subject
folder `s{k}` is label `k - 1`; images are subject-major, so
`images[10 * label + i - 1]` is `s{label + 1}/{i}.pgm`.
"""

from __future__ import annotations

import os

import numpy as np

from zoo.training.datasets._files import data_path, load_npz
from zoo.training.datasets.splits import stratified_split

FILE = "att_faces.npz"
SHA256 = "fbab3b9e0e7091d4399074f4c8f0bce13f86b9bca2caf0f332d48a443302ec85"
SIZE = 3_688_141


def load_orl_faces(data_dir: str | os.PathLike | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Load all 400 faces, after a sha256 check of the file.

    Args:
        data_dir: folder holding `att_faces.npz`; defaults to `data/att_faces/`.

    Returns:
        `(images, labels)`: uint8 (400, 112, 92) grey levels (face bright on
        a dark background), and int64 (400,) subject ids 0..39.
    """
    path = data_path(data_dir, "att_faces", FILE)
    arrays = load_npz(path, SHA256, SIZE, {"images": (400, 112, 92), "labels": (400,)})
    return arrays["images"], arrays["labels"].astype(np.int64)


def orl_five_five_split(seed: int = 0, data_dir: str | os.PathLike | None = None):
    """The standard ORL 5/5 protocol: per subject, 5 random images train, 5 test.

    Args:
        seed: which 5 of each subject's 10 go to train; fixed per seed.
        data_dir: as in `load_orl_faces`.

    Returns:
        `(train_idx, test_idx)`: int64 index arrays of 200 each, ascending,
        into the arrays of `load_orl_faces`.
    """
    _, labels = load_orl_faces(data_dir)
    return stratified_split(labels, 5, seed)

