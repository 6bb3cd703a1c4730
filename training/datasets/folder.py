"""Your own images: a folder tree `DIR/CLASS/IMAGE` as arrays and splits.

Each image file is decoded by `zoo.retrieval.read_images` (Pillow: EXIF
orientation, 16-bit scaling, alpha, palettes, grey by ITU-R 601 luma), so a
folder is read the same way as the images `zoo verify` and `zoo gallery`
take. Images of another size are resized by area averaging
(`zoo.training.datasets.resize`) to the requested (H, W), and the result says how
many were.

    data = load_folder("my_images", image_size=(28, 28))
    data.images, data.labels, data.class_names     # uint8 (N, 28, 28), int64 (N,), [str]
    parts = split_folder(data.labels, 0.2, by="class", seed=0)   # {"train", "val", "test"}

Bad data: a file that is not an image (by its suffix) is ignored and counted;
an image Pillow cannot decode (corrupt, truncated) is skipped with a
`FolderWarning` naming it, or refused with `strict=True`; an image smaller
than `min_side` is refused, naming it. An empty folder, a folder without
class sub-folders and (unless `min_classes=1`) a single class are refused.
"""

from __future__ import annotations

import dataclasses
import hashlib
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from zoo.training.datasets.images import resize

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".pgm", ".ppm", ".pbm",
                  ".tif", ".tiff", ".webp")
SPLITS = ("class", "image")


class FolderDataError(ValueError):
    """The folder cannot be used as asked; the message names the file or class."""


class FolderWarning(UserWarning):
    """A file of the folder was skipped or ignored."""


@dataclasses.dataclass(frozen=True)
class FolderData:
    """What `load_folder` read.

    Attributes:
        images: uint8 (N, H, W) grey or (N, H, W, 3) RGB when `image_size`
            was given (or every image had the same size); otherwise a list of
            uint8 arrays of their own sizes.
        labels: int64 (N,) class ids, indices into `class_names`.
        class_names: the class folder names, sorted.
        files: each image's path relative to the folder ("CLASS/NAME").
        sha256: the content hash of the folder: every used file's relative
            path and sha256, in order.
        name: the folder's base name.
        image_size: [H, W] of every image, or None (sizes differ).
        channels: 1 (grey) or 3 (RGB).
        resized: how many images were resized to `image_size`.
        skipped: [(file, reason)] of unreadable images that were skipped.
        ignored: how many non-image files were ignored.
        seconds: the scan's wall-clock seconds.
    """

    images: object
    labels: np.ndarray
    class_names: list
    files: list
    sha256: str
    name: str
    image_size: list | None
    channels: int
    resized: int
    skipped: list
    ignored: int
    seconds: float

    def card(self) -> dict:
        """The facts of the folder for a card's `dataset` entry."""
        counts = np.bincount(self.labels, minlength=len(self.class_names))
        return {"name": self.name, "source": "folder", "sha256": self.sha256,
                "classes": len(self.class_names), "images": int(len(self.labels)),
                "images_per_class": {"min": int(counts.min()), "max": int(counts.max())},
                "image_size": self.image_size, "channels": self.channels,
                "resized": self.resized, "resize_method": "area averaging",
                "skipped_corrupt": len(self.skipped), "ignored_non_image": self.ignored}


def load_folder(directory, image_size=None, channels=1, *, strict=False, min_side=1,
                min_classes=2, min_per_class=1, progress=None) -> FolderData:
    """Read every image of `DIR/CLASS/IMAGE`.

    Args:
        directory: the folder; each sub-folder is a class (hidden ones are
            skipped), each image file in it one example.
        image_size: (H, W) to resize every image to (area averaging), or None
            to keep each image's size.
        channels: 1 for grey, 3 for RGB (a grey file is repeated).
        strict: refuse the folder at the first unreadable image instead of
            skipping it with a warning.
        min_side: the smallest height or width an image may have (the
            network's minimum); smaller images are refused, by name.
        min_classes: the fewest classes with images that are accepted.
        min_per_class: the fewest images each class must keep (2 for pair
            and triplet training).
        progress: a stream for the scan's progress lines (files per second),
            e.g. `sys.stderr`; None prints nothing.

    Returns:
        A `FolderData`.

    Raises:
        FolderDataError: the folder, a class or a file cannot be used; the
            message names it and says what to do.
    """
    from zoo.retrieval import read_images

    root = Path(directory)
    if not root.is_dir():
        raise FolderDataError(f"No folder at {str(root)!r}. Pass a folder of class sub-folders "
                              f"(DIR/CLASS/IMAGE). Received: directory={str(directory)!r}")
    if channels not in (1, 3):
        raise FolderDataError(f"channels must be 1 or 3. Received: channels={channels!r}")
    if image_size is not None:
        image_size = [int(v) for v in image_size]
        if len(image_size) != 2 or min(image_size) < min_side:
            raise FolderDataError(
                f"image_size must be (H, W) with both at least {min_side} (the network's "
                f"smallest input). Received: image_size={image_size!r}")
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    loose = [p.name for p in root.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    if not class_dirs:
        hint = (f" It holds {len(loose)} image file(s) directly (e.g. {loose[0]!r}); move them "
                "into one sub-folder per class.") if loose else ""
        raise FolderDataError(f"{str(root)!r} has no class sub-folders (DIR/CLASS/IMAGE).{hint}")

    meter = _Progress(root, progress)
    images, labels, files, skipped, small = [], [], [], [], []
    ignored, empty, digest = len([p for p in root.iterdir() if p.is_file()]), [], hashlib.sha256()
    names = []
    for class_dir in class_dirs:
        entries = sorted(p for p in class_dir.rglob("*") if p.is_file())
        kept = 0
        for path in entries:
            relative = path.relative_to(root).as_posix()
            if path.suffix.lower() not in IMAGE_SUFFIXES or path.name.startswith("."):
                ignored += 1
                continue
            meter.tick()
            try:
                image = np.asarray(read_images(path, channels=channels))
            except (ValueError, OSError) as error:
                if strict:
                    raise FolderDataError(f"Unreadable image {relative!r} ({_reason(error, path)}); "
                                          "fix or remove it, or drop --strict to skip it.") from None
                skipped.append((relative, _reason(error, path)))
                warnings.warn(f"skipped unreadable image {relative!r} ({_reason(error, path)})",
                              FolderWarning, stacklevel=2)
                continue
            if min(image.shape[:2]) < min_side:
                small.append(f"{relative} ({image.shape[1]}x{image.shape[0]})")
                continue
            digest.update(f"{relative}\0{hashlib.sha256(path.read_bytes()).hexdigest()}\n".encode())
            images.append(image)
            labels.append(len(names))
            files.append(relative)
            kept += 1
        if kept:
            names.append(class_dir.name)
        else:
            empty.append(class_dir.name)
    seconds = meter.done(len(images), len(names), len(skipped), ignored)
    if small:
        raise FolderDataError(
            f"{len(small)} image(s) are smaller than {min_side} pixels on a side, the network's "
            f"smallest input: {', '.join(small[:5])}{' ...' if len(small) > 5 else ''}. Remove "
            "them or use larger images.")
    if not images:
        raise FolderDataError(f"{str(root)!r} holds no readable image in its {len(class_dirs)} "
                              f"class folder(s) ({ignored} non-image file(s) ignored, "
                              f"{len(skipped)} unreadable). Supported: "
                              f"{', '.join(s[1:] for s in IMAGE_SUFFIXES)}.")
    if empty:
        warnings.warn(f"class folder(s) without a readable image, left out: {', '.join(empty[:10])}",
                      FolderWarning, stacklevel=2)
    if len(names) < min_classes:
        raise FolderDataError(
            f"{str(root)!r} has {len(names)} class(es) with images ({', '.join(names)}); this "
            f"training needs at least {min_classes}. Add one sub-folder per class.")
    labels = np.asarray(labels, np.int64)
    counts = np.bincount(labels, minlength=len(names))
    few = [f"{names[c]} ({counts[c]})" for c in np.flatnonzero(counts < min_per_class)]
    if few:
        raise FolderDataError(
            f"{len(few)} class(es) have fewer than {min_per_class} images, which pair and "
            f"triplet training need: {', '.join(few[:10])}{' ...' if len(few) > 10 else ''}. "
            "Add images or remove those class folders.")
    resized = 0
    if image_size is not None:
        out = np.empty((len(images), *image_size, *([3] if channels == 3 else [])), np.uint8)
        for i, image in enumerate(images):
            if list(image.shape[:2]) != image_size:
                image = resize(image[None], tuple(image_size))[0]
                resized += 1
            out[i] = image
        images = out
    elif len({im.shape for im in images}) == 1:
        images, image_size = np.stack(images), list(images[0].shape[:2])
    return FolderData(images=images, labels=labels, class_names=names, files=files,
                      sha256=digest.hexdigest(), name=root.resolve().name, image_size=image_size,
                      channels=channels, resized=resized, skipped=skipped, ignored=ignored,
                      seconds=seconds)


def split_folder(labels, val_split=0.2, by="class", seed=0) -> dict:
    """Seeded train / validation / test indices of a folder's images.

    by "class" (embedding and verification): the classes themselves are
    split (identity-disjoint): `val_split` of them, at least 2, calibrate
    the threshold, as many again are the held-out test classes, and the
    rest (at least 2) train. by "image" (classifiers, autoencoders): every
    class gives `val_split` of its images, at least 1, to validation and as
    many to test.

    Returns:
        {"train", "val", "test"}: int64 index arrays (ascending), and
        {"by", "val_split", "seed"} under "rule".
    """
    labels = np.asarray(labels)
    if by not in SPLITS:
        raise FolderDataError(f"by must be one of {SPLITS}. Received: by={by!r}")
    if not 0 < float(val_split) < 0.5:
        raise FolderDataError(f"--val-split must be a fraction in (0, 0.5): that share is held "
                              f"out for validation and as much again for the test. "
                              f"Received: val_split={val_split!r}")
    rng = np.random.default_rng(seed)
    classes = np.unique(labels)
    parts = {"train": [], "val": [], "test": []}
    if by == "class":
        n = max(2, int(np.floor(len(classes) * val_split + 0.5)))
        if len(classes) < 2 * n + 2:
            raise FolderDataError(
                f"A split by class needs at least {2 * n + 2} classes ({n} validation, {n} test "
                f"and 2 to train); the folder has {len(classes)}. Add classes or lower "
                f"--val-split. Received: val_split={val_split}")
        order = rng.permutation(classes)
        groups = {"val": order[:n], "test": order[n:2 * n], "train": order[2 * n:]}
        for key, members in groups.items():
            parts[key] = np.flatnonzero(np.isin(labels, members))
    else:
        for c in classes:
            members = rng.permutation(np.flatnonzero(labels == c))
            n = max(1, int(np.floor(len(members) * val_split + 0.5)))
            if len(members) < 2 * n + 1:
                raise FolderDataError(
                    f"Class {int(c)} has {len(members)} image(s); a split by image needs at "
                    f"least {2 * n + 1} per class ({n} validation, {n} test, 1 to train). Add "
                    "images or lower --val-split.")
            parts["val"].append(members[:n])
            parts["test"].append(members[n:2 * n])
            parts["train"].append(members[2 * n:])
        parts = {k: np.concatenate(v) for k, v in parts.items()}
    split = {k: np.sort(np.asarray(v, np.int64)) for k, v in parts.items()}
    split["rule"] = {"by": by, "val_split": float(val_split), "seed": int(seed)}
    return split


def _reason(error, path) -> str:
    """Pillow's reason, without the machine path (the message names the file)."""
    text = str(error)
    text = text.split("(", 1)[1].rsplit(")", 1)[0] if "Pillow can read (" in text else text
    return text.replace(f" '{path}'", "").replace(str(path), path.name)


class _Progress:
    """Scan progress on `stream`: a line every 2 s (rewritten in place on a
    terminal) with the files read and files per second, and a final line."""

    def __init__(self, root, stream):
        self.root, self.stream, self.count = root, stream, 0
        self.start = self.last = time.perf_counter()
        self.tty = bool(stream is not None and getattr(stream, "isatty", lambda: False)())

    def tick(self):
        self.count += 1
        now = time.perf_counter()
        if self.stream is not None and now - self.last >= 2.0:
            self.last = now
            rate = self.count / max(now - self.start, 1e-9)
            end = "\r" if self.tty else "\n"
            print(f"scanning {self.root.name}: {self.count} files ({rate:.0f} files/s)",
                  end=end, file=self.stream, flush=True)

    def done(self, images, classes, skipped, ignored) -> float:
        seconds = time.perf_counter() - self.start
        if self.stream is not None:
            rate = self.count / max(seconds, 1e-9)
            print(f"scanned {self.root.name}: {images} images in {classes} classes, {skipped} "
                  f"unreadable skipped, {ignored} non-image files ignored ({seconds:.1f} s, "
                  f"{rate:.0f} files/s)", file=self.stream, flush=True)
        return round(seconds, 3)


if __name__ == "__main__":  # python -m zoo.training.datasets.folder DIR: scan and summarise
    data = load_folder(sys.argv[1], progress=sys.stderr, min_classes=1)
    print({k: v for k, v in data.card().items()})
