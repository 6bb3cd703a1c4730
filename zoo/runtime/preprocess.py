"""Turn user images into the float32 NHWC tensor a card's graph expects.

Pixel units: a uint8 (or other integer) image holds values in [0, 255]; a
float image holds the same values divided by 255, i.e. in [0, 1]. Both give
the same model input: `(255 - p if invert else p) * scale`.
"""

from __future__ import annotations

import os

import numpy as np

_FIX = ("Pass uint8 images in [0, 255] or float images in [0, 1], shaped "
        "(H, W), (N, H, W) or (N, H, W, C).")


def preprocess(images, config, shape, *, resize=False, name="images") -> np.ndarray:
    """The model input for `images`, as float32 [N, H, W, C].

    Args:
        images: one (H, W) image, or a batch (N, H, W) or (N, H, W, C);
            uint8 in [0, 255] or float in [0, 1].
        config: the card's `preprocess` (keys `invert`, `scale`, `resize`).
        shape: the graph input shape [-1, H, W, C] from the card.
        resize: resize images of another size to (H, W); only when the card
            has a `resize` entry.
        name: the argument name used in error messages.
    """
    _refuse_paths(images, name)
    x = _numeric(images, name)
    if x.ndim == 2:
        x = x[None]
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4:
        raise ValueError(f"`{name}` must have rank 2, 3 or 4. {_FIX} Received: shape={x.shape}")
    if x.shape[0] == 0:
        raise ValueError(f"`{name}` is an empty batch. {_FIX} Received: shape={x.shape}")
    height, width, channels = shape[1:]
    if x.size == 0:
        want = "x".join("H" if d < 0 else str(d) for d in (height, width))
        raise ValueError(f"`{name}` holds zero-size images; this model takes {want} images, "
                         f"shaped (N, {height}, {width}) or (N, {height}, {width}, {channels}). "
                         f"Received: shape={x.shape}")
    x = _channels(x, channels, name)
    _check_range(x, name)
    pixels = x.astype(np.float64)
    if x.dtype.kind == "f":
        pixels = pixels * 255.0
    if config.get("invert", False):
        pixels = 255.0 - pixels
    pixels *= float(config.get("scale", 1.0 / 255.0))
    target = (height, width)
    if any(d > 0 and d != s for d, s in zip(target, pixels.shape[1:3])):
        if not config.get("resize"):
            raise ValueError(
                f"`{name}` must be {height}x{width}; this model's card does not "
                f"allow resizing. Resize the images yourself. Received: shape={x.shape}"
            )
        if not resize:
            raise ValueError(
                f"`{name}` must be {height}x{width}. Resize them, or let the zoo resize "
                f"them: --resize on the command line, resize=True in Python. "
                f"Received: shape={x.shape}"
            )
        pixels = resize_images(pixels, target)
    return pixels.astype(np.float32)


def check_code(code, shape, name="code") -> np.ndarray:
    """`code` as float32 [N, k], checked against the graph input `shape`.

    Args:
        code: one code (k,) or a batch (N, k).
        shape: the card's input shape [-1, k] of the `decode` graph.
        name: the argument name used in error messages.
    """
    x = _numeric(code, name)
    if x.ndim == 1:
        x = x[None]
    width = shape[-1]
    if x.ndim != 2 or x.shape[0] == 0 or (width > 0 and x.shape[1] != width):
        raise ValueError(
            f"`{name}` must be shaped (N, {width}) with N >= 1, or ({width},) "
            f"for one code. Received: shape={x.shape}"
        )
    return _finite_float32(x, name)


def _finite_float32(x, name) -> np.ndarray:
    """`x` cast to float32, refused when the cast value holds NaN or inf (a float64
    such as 1e300 overflows float32 to inf, so the check comes after the cast)."""
    with np.errstate(over="ignore", invalid="ignore"):
        cast = x.astype(np.float32)
    if not np.isfinite(cast).all():
        overflow = bool(np.isfinite(x).all())
        raise ValueError(
            f"`{name}` contains NaN or inf" + (" once cast to float32 (values beyond "
                                             f"±{np.finfo(np.float32).max:.3g} overflow)"
                                             if overflow else "")
            + f". Received: {name}={_sample(x) if not overflow else _largest(x)}")
    return cast


def _largest(x):
    flat = np.abs(x.astype(np.float64)).ravel()
    return f"array with max |value| {flat.max()!r}"


def check_side_input(value, shape, batch, dtype, name, bound=None) -> np.ndarray:
    """An extra graph input (e.g. cae_unpool's `argmax_1`) as `dtype`,
    checked against its card `shape` and the batch of the main input.

    Args:
        value: [N, ...] array, or one row without the batch axis.
        shape: the card's input shape [-1, ...].
        batch: N, the rows of the main input (the code).
        dtype: np.float32, or np.int64 for indices (refused outside [0, bound)).
        name: the input name used in error messages.
        bound: for indices, how many positions they may address (H*W*C of
            the unpooled tensor); None checks only >= 0.
    """
    x = np.asarray(value)
    integer = np.dtype(dtype).kind == "i"
    if x.dtype.kind not in ("iu" if integer else "iuf"):
        raise ValueError(f"`{name}` must hold {'integers' if integer else 'numbers'} "
                         f"({np.dtype(dtype).name}). Received: dtype={x.dtype}")
    received = x.shape
    if batch == 1 and x.ndim == len(shape) - 1:
        x = x[None]  # one row, like one code (k,)
    want = (batch, *shape[1:])
    if x.ndim != len(want) or any(w >= 0 and w != d for w, d in zip(want, x.shape)):
        raise ValueError(
            f"`{name}` must be shaped {want}: one row per code, like the encode output "
            f"{name!r} of the same images. Received: shape={received}")
    if integer and x.size:
        # On the values as given: a uint64 2**64-1 would wrap to -1 in int64.
        low, high = int(x.min()), int(x.max())
        top = bound if bound is not None else np.iinfo(np.int64).max + 1
        if low < 0 or high >= top:
            limit = f"in [0, {bound})" if bound is not None else ">= 0"
            raise ValueError(f"`{name}` holds indices, which must be {limit}"
                             + (" (H*W*C of the tensor it unpools to)" if bound else "")
                             + f". Received: min={low}, max={high}")
    if not integer:
        return _finite_float32(x, name)
    return x.astype(dtype)


def resize_images(x, size) -> np.ndarray:
    """Resize [N, H, W, C] to `size`: area for integer shrink factors, else nearest.

    Args:
        x: float images.
        size: the target (H, W).
    """
    n, h, w, c = x.shape
    th, tw = size
    if h % th == 0 and w % tw == 0:
        return x.reshape(n, th, h // th, tw, w // tw, c).mean(axis=(2, 4))
    rows = np.minimum(((np.arange(th) + 0.5) * h / th).astype(int), h - 1)
    cols = np.minimum(((np.arange(tw) + 0.5) * w / tw).astype(int), w - 1)
    return x[:, rows][:, :, cols]


def _refuse_paths(images, name):
    """File paths where images belong: name the reader instead of a dtype."""
    if isinstance(images, (str, os.PathLike)):  # one path, e.g. verify("a.png", "b.png")
        images = [images]
    x = np.asarray(images, dtype=object) if isinstance(images, (list, tuple)) else images
    if isinstance(x, np.ndarray) and x.dtype.kind in "USO" and x.size \
            and all(isinstance(v, (str, os.PathLike)) for v in x.flat):
        raise ValueError(
            f"`{name}` holds file paths; read them first with "
            "`np.stack([zoo.retrieval.read_images(p) for p in paths])`. "
            f"Received: dtype={np.asarray(images).dtype}"
        )


def _numeric(value, name) -> np.ndarray:
    try:
        x = np.asarray(value)
    except ValueError as error:
        raise ValueError(
            f"`{name}` is not a rectangular array ({error}). {_FIX} "
            f"Received: type={type(value).__name__}"
        ) from None
    if x.dtype.kind not in "uif":
        raise ValueError(
            f"`{name}` must be numeric (uint8 or float). Received: dtype={x.dtype}"
        )
    return x


def _channels(x, channels, name):
    if channels <= 0 or x.shape[-1] == channels:
        return x
    if x.shape[-1] == 1:
        return np.repeat(x, channels, axis=-1)
    raise ValueError(
        f"`{name}` must have {channels} channel(s) (or 1, repeated). "
        f"Received: shape={x.shape}"
    )


def _check_range(x, name):
    if x.dtype.kind == "f":
        if not np.isfinite(x).all():
            raise ValueError(f"`{name}` contains NaN or inf. {_FIX} Received: {name}={_sample(x)}")
        low, high, bounds = x.min().item(), x.max().item(), "[0, 1]"
        bad = low < 0.0 or high > 1.0
    else:
        low, high, bounds = x.min().item(), x.max().item(), "[0, 255]"
        bad = low < 0 or high > 255
    if bad:
        hint = " Divide uint8-range floats by 255." if x.dtype.kind == "f" and high > 1 else ""
        raise ValueError(
            f"`{name}` values must be in {bounds} for dtype {x.dtype}.{hint} "
            f"Received: min={low!r}, max={high!r}"
        )


def _sample(x):
    bad = x[~np.isfinite(x)]
    return f"array with {bad.size} non-finite value(s), e.g. {bad.flat[0].item()!r}"


def align_images(images, config, *, name="images") -> np.ndarray:
    """Raw face images -> uint8 chips (N, S, S, 3), by the card's `align` step.

    Each face is framed like ORL (or passed through `zoo face`'s detector first);
    its 5 dlib landmarks place a similarity-aligned chip (`zoo.faces.align`).

    Args:
        images: one face (H, W) grey or (H, W, 3|4) colour, a batch (N, H, W) or
            (N, H, W, C), or a list of faces of different sizes; uint8 in
            [0, 255], uint16 in [0, 65535] or float in [0, 1]. Alpha is dropped.
        config: the card's `preprocess["align"]` ({"size", "padding"}).
        name: the argument name used in error messages.
    """
    from zoo.faces.align import align_faces

    _refuse_paths(images, name)
    if isinstance(images, (list, tuple)):
        if not images:
            raise ValueError(f"`{name}` is an empty list. {_FIX}")
        faces = [face for image in images for face in _faces(image, name, single=True)]
    else:
        faces = _faces(images, name)
    return align_faces(faces, size=int(config["size"]), padding=float(config["padding"]))


def _faces(images, name, single=False) -> list:
    """uint8 (H, W) or (H, W, 3) faces of `images`, validated."""
    x = _numeric(images, name)
    one = x.ndim == 2 or (x.ndim == 3 and x.shape[-1] in (3, 4))
    if single and not one:
        raise ValueError(f"Each item of `{name}` must be one face (H, W) or (H, W, 3). "
                         f"Received: shape={x.shape}")
    batch = x[None] if one else x
    if batch.ndim not in (3, 4) or (batch.ndim == 4 and batch.shape[-1] not in (1, 3, 4)):
        raise ValueError(f"`{name}` must be faces shaped (H, W), (H, W, 3), (N, H, W) or "
                         f"(N, H, W, 1|3|4). Received: shape={x.shape}")
    if batch.shape[0] == 0:
        raise ValueError(f"`{name}` is an empty batch. {_FIX} Received: shape={x.shape}")
    if batch.size == 0:
        raise ValueError(f"`{name}` holds zero-size faces; pass faces shaped (H, W) or "
                         f"(H, W, 3) with H, W >= 1. Received: shape={x.shape}")
    if batch.dtype == np.uint16:
        batch = np.round(batch / 257.0)  # 16-bit to 8-bit: 65535 -> 255
    else:
        _check_range(batch, name)
        batch = np.round(batch * 255.0) if batch.dtype.kind == "f" else batch
    batch = batch.astype(np.uint8)
    if batch.ndim == 4:
        batch = batch[..., 0] if batch.shape[-1] == 1 else batch[..., :3]
    return list(batch)
