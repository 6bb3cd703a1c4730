"""Omniglot (Lake et al. 2015): 1623 characters x 20 drawers, 105x105 binary.

Vendored in `data/omniglot/` (see its SOURCE.md). The files store
True = white paper; every loader here returns the ink-bright uint8
convention instead: ink = 255, paper = 0, like Fashion-MNIST and MNIST.
"""

from __future__ import annotations

import csv
import os

import numpy as np

from zoo.training.datasets._files import data_path, load_npz, verify_file

SUBSETS = {
    # subset: (file, sha256, bytes, characters, first global char id)
    "background": ("images_background.npz",
                   "8bf84167413cd00beacdce3fe582f780ab538d8dbef043a6d688f2527bbce199",
                   3_340_794, 964, 1),
    "evaluation": ("images_evaluation.npz",
                   "0b84c7ffd94c4841c0040e529c86a82eaaccb986d8eadad5673f7991b7475276",
                   2_415_269, 659, 965),
}
RUNS = ("omniglot_one_shot_runs.npz",
        "1b8fdb0369c81c6ea57e1152c315df234b2cfdabb297d0f1ffa7657ee2d76203", 149_116)
CHARACTERS = ("characters.csv",
              "9b810dca17ac021598d91da61f60450084adaec99ff028a89d6a0013da3298b7", 55_995)
DRAWERS = 20
SIZE = 105


def load_omniglot(subset: str = "background", data_dir: str | os.PathLike | None = None):
    """Load one Omniglot split, flattened to one row per image.

    Args:
        subset: "background" (964 characters, for training) or "evaluation"
            (659 characters, for one-shot testing).
        data_dir: folder holding the npz files; defaults to `data/omniglot/`.

    Returns:
        `(images, labels)`: uint8 (chars * 20, 105, 105) with ink = 255 and
        paper = 0, and int64 character indices within the subset. Image
        `20 * c + s` is character `c`, drawer `s` (0-based); its global
        Omniglot id is `c + 1` (background) or `c + 965` (evaluation).
    """
    file, sha256, size, n_chars, _ = _subset(subset)
    shape = (n_chars, DRAWERS, SIZE, SIZE)
    arrays = load_npz(data_path(data_dir, "omniglot", file), sha256, size,
                      {"images": shape, "labels": shape[:2]})
    images = _ink_bright(arrays["images"]).reshape(-1, SIZE, SIZE)
    return images, arrays["labels"].reshape(-1).astype(np.int64)


def load_one_shot_runs(data_dir: str | os.PathLike | None = None) -> dict[str, np.ndarray]:
    """Lake's 20 official 20-way, within-alphabet, one-shot runs.

    Args:
        data_dir: folder holding `omniglot_one_shot_runs.npz`.

    Returns:
        A dict of arrays, each indexed `[run, j]`:
        - `train_images`: uint8 (20, 20, 105, 105), the one support image of
          class j; `test_images`: the same for query item j (ink = 255).
        - `test_answer`: int64 (20, 20), the support class 0..19 of query j.
        - `train_char_id`, `test_char_id`: global Omniglot character ids.
        - `train_drawer`, `test_drawer`: drawer numbers, 1-based as in the
          upstream file names (the npz sample axis is this minus 1).
        - `train_index`, `test_index`: the row of the same image in
          `load_omniglot("evaluation")`, to keep run images out of training.
    """
    file, sha256, size = RUNS
    grid = (20, 20)
    keys = {"train_images": grid + (SIZE, SIZE), "test_images": grid + (SIZE, SIZE),
            "test_answer": grid, "train_char_id": grid, "train_drawer": grid,
            "test_char_id": grid, "test_drawer": grid}
    runs = load_npz(data_path(data_dir, "omniglot", file), sha256, size, keys)
    first_id = SUBSETS["evaluation"][4]
    for side in ("train", "test"):
        runs[f"{side}_images"] = _ink_bright(runs[f"{side}_images"])
        char, drawer = runs[f"{side}_char_id"] - first_id, runs[f"{side}_drawer"] - 1
        runs[f"{side}_index"] = char * DRAWERS + drawer
    return {k: v.astype(np.int64) if v.dtype != np.uint8 else v for k, v in runs.items()}


def omniglot_alphabets(subset: str = "background", data_dir: str | os.PathLike | None = None):
    """The alphabet of every character of a subset, from `characters.csv`.

    Args:
        subset: "background" or "evaluation".
        data_dir: folder holding `characters.csv`.

    Returns:
        A str array (chars,): entry `c` is the alphabet of character index
        `c` (as in `load_omniglot` labels), e.g. "Japanese_(katakana)".
    """
    n_chars = _subset(subset)[3]
    file, sha256, size = CHARACTERS
    path = data_path(data_dir, "omniglot", file)
    verify_file(path, sha256, size)
    with open(path, newline="", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if r["set"] == subset]
    alphabets = np.empty(n_chars, dtype=object)
    for r in rows:
        alphabets[int(r["set_index"])] = r["alphabet"]
    return alphabets.astype(str)


def _subset(subset: str):
    if subset not in SUBSETS:
        raise ValueError(
            f"`subset` must be one of {tuple(SUBSETS)}. Received: subset={subset!r}"
        )
    return SUBSETS[subset]


def _ink_bright(paper: np.ndarray) -> np.ndarray:
    """bool (True = paper) -> uint8 with ink 255, without an int64 temporary."""
    ink = np.logical_not(paper).view(np.uint8)
    ink *= np.uint8(255)
    return ink
