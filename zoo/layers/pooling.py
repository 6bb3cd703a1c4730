"""Max pooling that remembers where each maximum was, and its inverse.

The positions come in one of two forms (`positions=` of the pooling layer):

- a float **mask** (the default) with the shape of the pooled layer's
  input [N, H, W, C]: 1.0 at the maximum of each pooling window, 0.0
  elsewhere (including rows and columns that "valid" padding drops);
- int64 **argmax** indices with the pooled shape [N, h, w, C]: the
  per-sample flat NHWC index (y * W + x) * C + c of each window's maximum
  in the input, as `tf.nn.max_pool_with_argmax(include_batch_in_index=False)`
  returns it: one value per pooled position, not one per input pixel;
  `MaxUnpooling2D` then needs the input's `output_size=(H, W)`, which the
  indices do not carry.

Ties go to the first maximum in row-major window order, as in
`tf.nn.max_pool_with_argmax` (onnxruntime's MaxPool agrees). The mask

- carries the original height and width, so `MaxUnpooling2D()([pooled,
  mask])` restores odd sizes without a third input;
- is independent of the batch position (unlike flat argmax indices with
  `include_batch_in_index`);
- makes unpooling a nearest upsample times the mask, which exports to ONNX
  as Reshape / Tile / Slice / Pad / Mul: no ScatterND. Argmax indices are
  turned into the mask first: the upsampled indices equal a constant grid
  of each pixel's own flat index (one Equal, no Div / Mod, no scatter).

The argmax itself is computed without `tf.nn.max_pool_with_argmax` (whose
ONNX form, MaxPool's optional Indices output, is NCHW and batch-inclusive, so
tf2onnx rebuilds the NHWC index from runtime Shape arithmetic; tract and
onnx2torch refuse that graph, and onnxruntime runs it slowly): every pixel
equal to its upsampled window maximum is a candidate, and a second max pool
over the negated flat indices of the candidates picks the smallest index,
which is the first maximum in row-major window order. The indices are
carried as float32, exact below 2**24 = H * W * C; a larger input falls back
to `tf.nn.max_pool_with_argmax`.

Windows may not overlap (`strides >= pool_size`), so every input pixel
belongs to at most one window and the mask is unambiguous.
"""

from zoo import backend  # noqa: F401  (pins the TF backend before Keras)

import keras
import tensorflow as tf

PADDINGS = ("valid", "same")
POSITIONS = ("mask", "argmax")


def _pair(given, name):
    value = (given, given) if isinstance(given, int) and not isinstance(given, bool) else given
    if (
        not isinstance(value, (tuple, list))
        or len(value) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in value)
    ):
        raise ValueError(
            f"{name} must be a positive int or a pair of positive ints, e.g. 2 "
            f"or (2, 2). Received: {name}={given!r}"
        )
    return tuple(value)


def _validate(pool_size, strides, padding):
    pool_size = _pair(pool_size, "pool_size")
    strides = pool_size if strides is None else _pair(strides, "strides")
    if not isinstance(padding, str) or padding.lower() not in PADDINGS:
        raise ValueError(f'padding must be "valid" or "same". Received: padding={padding!r}')
    if strides[0] < pool_size[0] or strides[1] < pool_size[1]:
        raise ValueError(
            "Windows must not overlap, so every input pixel has at most one "
            "remembered maximum: pass strides >= pool_size (or strides=None). "
            f"Received: pool_size={pool_size}, strides={strides}"
        )
    return pool_size, strides, padding.lower()


def _pooled_length(length, size, stride, padding):
    if length is None:
        return None
    if padding == "same":
        return -(-length // stride)
    return max((length - size) // stride + 1, 0)


def _pad_before(length, size, stride, padding):
    """Rows (or columns) TF pads before the first window: the offset of the
    window grid, which "same" padding centres on the input."""
    if padding == "valid":
        return 0
    out = _pooled_length(length, size, stride, padding)
    return max((out - 1) * stride + size - length, 0) // 2


def _static_hwc(shape, layer):
    if len(shape) != 4 or any(d is None for d in shape[1:]):
        raise ValueError(
            f"{layer} needs a 4D NHWC input with static height, width and "
            f"channels. Give the model a fixed input size. Received: shape={tuple(shape)}"
        )
    return tuple(shape[1:])


def _to_cells(x, size, strides, offsets, fill):
    """Repeat each pooled value over its strides-sized cell, then align the
    cell grid with the input (shift by `offsets`) and crop or pad to `size`."""
    _, h, w, c = x.shape
    sh, sw = strides
    x = tf.reshape(x, [-1, h, 1, w, 1, c])
    x = tf.tile(x, [1, 1, sh, 1, sw, 1])
    x = tf.reshape(x, [-1, h * sh, w * sw, c])
    (top, left), (height, width) = offsets, size
    if (top, left, height, width) != (0, 0, h * sh, w * sw):
        x = x[:, top : top + height, left : left + width, :]
    bottom, right = max(height - (h * sh - top), 0), max(width - (w * sw - left), 0)
    if bottom or right:
        x = tf.pad(x, [[0, 0], [0, bottom], [0, right], [0, 0]], constant_values=fill)
    return x


def _exact_grid(size, pooled, strides, offsets):
    """True when the cells tile the input exactly: no offset, no dropped or
    padded row or column. Then an input-sized tensor [N, H, W, C] reshapes to
    the window view [N * h, sh, w, sw, C] and a pooled one [N, h, w, C]
    broadcasts against it as [N * h, 1, w, 1, C]: no Tile, no Slice (the fast
    path; TF broadcasts at most 5 dimensions, hence N * h)."""
    (height, width), (h, w), (sh, sw) = size, pooled, strides
    return tuple(offsets) == (0, 0) and (height, width) == (h * sh, w * sw)


def _windows(x, strides):
    """[N, H, W, C] -> [N * h, sh, w, sw, C] (only on an `_exact_grid`)."""
    _, height, width, c = x.shape
    sh, sw = strides
    return tf.reshape(x, [-1, sh, width // sw, sw, c])


def _cells(x):
    """Pooled [N, h, w, C] -> [N * h, 1, w, 1, C], broadcasting over `_windows`."""
    _, _, w, c = x.shape
    return tf.reshape(x, [-1, 1, w, 1, c])


def _split_index(pooled, width, channels, strides, dtype):
    """The flat index (y * W + x) * C + c of a pixel as cell part + window part:
    the constant [1, h, w, C] index of each cell's top-left pixel, and the
    constant [1, sh, 1, sw, 1] offset (a * W + b) * C of row a, column b of
    the window (only on an `_exact_grid`)."""
    (h, w), (sh, sw) = pooled, strides
    rows = tf.reshape(tf.range(h, dtype=dtype) * (sh * width * channels), [1, h, 1, 1])
    cols = tf.reshape(tf.range(w, dtype=dtype) * (sw * channels), [1, 1, w, 1])
    chans = tf.reshape(tf.range(channels, dtype=dtype), [1, 1, 1, channels])
    a = tf.reshape(tf.range(sh, dtype=dtype) * (width * channels), [1, sh, 1, 1, 1])
    b = tf.reshape(tf.range(sw, dtype=dtype) * channels, [1, 1, 1, sw, 1])
    return rows + cols + chans, a + b


# Flat indices are carried as float32 through the second pooling, exact up to 2**24.
_MAX_FLOAT_INDEX = 2**24


def _flat_index(size, channels, dtype):
    """The constant [1, H, W, C] grid of per-sample flat NHWC indices (y * W + x) * C + c."""
    height, width = size
    return tf.reshape(tf.range(height * width * channels, dtype=dtype), [1, height, width, channels])


def _window_mask(argmax, width, channels, strides):
    """Bool [N * h, sh, w, sw, C]: where each pixel of the window view is its
    window's argmax (only on an `_exact_grid`)."""
    base, offset = _split_index(argmax.shape[1:3], width, channels, strides, argmax.dtype)
    return tf.equal(_cells(argmax - base), offset)


def _argmax_to_mask(argmax, size, channels, strides, offsets, dtype):
    """The mask [N, H, W, C] of per-sample flat NHWC argmax indices [N, h, w, C]:
    1 where the index repeated over its window's cell is the pixel's own index
    (the -1 fill of the cells outside every window matches no pixel)."""
    if _exact_grid(size, argmax.shape[1:3], strides, offsets):
        mask = _window_mask(argmax, size[1], channels, strides)
        return tf.reshape(tf.cast(mask, dtype), [-1, *size, channels])
    cells = _to_cells(argmax, size, strides, offsets, fill=-1)
    return tf.cast(tf.equal(cells, _flat_index(size, channels, argmax.dtype)), dtype)


def _pool_with_argmax(inputs, pool_size, strides, padding, offsets):
    """(max pool, int64 argmax) of NHWC `inputs`, ties to the first maximum in
    row-major window order, as `tf.nn.max_pool_with_argmax(include_batch_in_index=False)`.

    Each pixel equal to its window's maximum scores K - index (K larger than
    every index, so the scores are >= 1), every other pixel 0; the window
    maximum of the scores is the smallest index among the maxima."""
    _, height, width, channels = inputs.shape
    ksize, step = [1, *pool_size, 1], [1, *strides, 1]
    total = height * width * channels
    if total > _MAX_FLOAT_INDEX:
        pooled, argmax = tf.nn.max_pool_with_argmax(inputs, ksize=ksize, strides=step,
                                                    padding=padding.upper(),
                                                    include_batch_in_index=False)
        return pooled, tf.cast(argmax, tf.int64)
    pooled = tf.nn.max_pool2d(inputs, ksize, step, padding.upper())
    if tuple(pool_size) == tuple(strides) and _exact_grid((height, width), pooled.shape[1:3],
                                                          strides, offsets):
        # Within the window view only the offset (a * W + b) * C varies. The
        # candidates' scores are distinct, so the ArgMax over the window has
        # no tie; an ArgMax (not a Cast) makes the int64, which tract types
        # as i64 (a Cast to int64 it types as a symbolic dimension).
        base, offset = _split_index(pooled.shape[1:3], width, channels, strides, tf.int64)
        is_max = tf.cast(tf.equal(_windows(inputs, strides), _cells(pooled)), tf.float32)
        score = is_max * tf.cast(total - offset, tf.float32)  # [N * h, sh, w, sw, C]
        (sh, sw), (_, w, c) = strides, pooled.shape[1:]
        # Window rows next to window columns; channels stay innermost, so the
        # transpose moves blocks of sw * C values.
        score = tf.reshape(tf.transpose(score, [0, 2, 1, 3, 4]), [-1, w, sh * sw, c])
        position = tf.math.argmax(score, axis=2, output_type=tf.int64)  # a * sw + b
        first = tf.gather(tf.reshape(offset, [sh * sw]), position)
        return pooled, tf.reshape(first, [-1, *pooled.shape[1:]]) + base
    # Pixels outside every window are never read by the second pool, whatever their fill.
    cells = _to_cells(pooled, (height, width), strides, offsets, fill=0)
    score = total - _flat_index((height, width), channels, tf.float32)
    first = tf.nn.max_pool2d(tf.cast(tf.equal(inputs, cells), tf.float32) * score,
                             ksize, step, padding.upper())
    return pooled, tf.cast(total - first, tf.int64)


class _Geometry:
    """Shared arguments and shape arithmetic of the pool and the unpool."""

    def _init_geometry(self, pool_size, strides, padding):
        self.pool_size, self.strides, self.padding = _validate(pool_size, strides, padding)

    def _pooled_shape(self, input_shape):
        n, h, w, c = input_shape
        (kh, kw), (sh, sw) = self.pool_size, self.strides
        return (
            n,
            _pooled_length(h, kh, sh, self.padding),
            _pooled_length(w, kw, sw, self.padding),
            c,
        )

    def _offsets(self, height, width):
        (kh, kw), (sh, sw) = self.pool_size, self.strides
        return (
            _pad_before(height, kh, sh, self.padding),
            _pad_before(width, kw, sw, self.padding),
        )

    def _geometry_config(self):
        return {"pool_size": self.pool_size, "strides": self.strides, "padding": self.padding}


@keras.saving.register_keras_serializable(package="zoo")
class MaxPoolingWithArgmax2D(_Geometry, keras.layers.Layer):
    """2D max pooling (NHWC) that also returns where each maximum was.

    Returns `[pooled, positions]`: `pooled` equals `keras.layers.MaxPooling2D`
    with the same arguments; `positions` is the float mask or the int64
    argmax indices (see the module docstring). Gradients flow through
    `pooled` to the maxima only; the positions have no gradient. Feed both to
    `MaxUnpooling2D` with the same arguments.

    Args:
        pool_size: int or pair of ints, the window size.
        strides: int or pair of ints, at least `pool_size`; `None` means
            `pool_size`.
        padding: "valid" (drop the rows and columns that do not fill a
            window) or "same" (pad like TF, so the output is
            ceil(input / strides)).
        positions: "mask" (float, the input's shape) or "argmax" (int64,
            the pooled shape).
        **kwargs: base `keras.layers.Layer` arguments.
    """

    def __init__(self, pool_size=2, strides=None, padding="valid", positions="mask", **kwargs):
        super().__init__(**kwargs)
        self._init_geometry(pool_size, strides, padding)
        if positions not in POSITIONS:
            raise ValueError(f"positions must be one of {POSITIONS}. Received: positions={positions!r}")
        self.positions = positions

    def build(self, input_shape):
        _static_hwc(input_shape, type(self).__name__)

    def call(self, inputs):
        height, width, channels = _static_hwc(inputs.shape, type(self).__name__)
        offsets = self._offsets(height, width)
        pooled, argmax = _pool_with_argmax(inputs, self.pool_size, self.strides, self.padding,
                                           offsets)
        if self.positions == "argmax":
            return [pooled, argmax]
        mask = _argmax_to_mask(argmax, (height, width), channels, self.strides, offsets,
                               self.compute_dtype)
        return [pooled, mask]

    def compute_output_shape(self, input_shape):
        pooled = self._pooled_shape(tuple(input_shape))
        return [pooled, pooled if self.positions == "argmax" else tuple(input_shape)]

    def compute_output_spec(self, inputs):
        # The default spec would give the int64 argmax the layer's float dtype.
        pooled, positions = self.compute_output_shape(inputs.shape)
        dtype = "int64" if self.positions == "argmax" else self.compute_dtype
        return [keras.KerasTensor(pooled, dtype=self.compute_dtype),
                keras.KerasTensor(positions, dtype=dtype)]

    def get_config(self):
        return {**super().get_config(), **self._geometry_config(), "positions": self.positions}


@keras.saving.register_keras_serializable(package="zoo")
class MaxUnpooling2D(_Geometry, keras.layers.Layer):
    """Inverse of `MaxPoolingWithArgmax2D`: `MaxUnpooling2D()([pooled, positions])`.

    Puts each pooled value back at its window's remembered maximum and zeros
    elsewhere. With a float mask the output has the mask's shape, so odd
    sizes are restored; with int64 argmax indices (pooled shape) pass the
    pooling layer's input size as `output_size`. The gradient wrt `pooled`
    is the upstream gradient at the maximum of each window; the positions
    get none.

    Args:
        pool_size: int or pair of ints, as given to the pooling layer.
        strides: int or pair of ints, as given to the pooling layer.
        padding: "valid" or "same", as given to the pooling layer.
        output_size: None to unpool at a float mask, or (H, W) of the
            pooling layer's input to unpool at its int64 argmax indices.
        **kwargs: base `keras.layers.Layer` arguments.
    """

    def __init__(self, pool_size=2, strides=None, padding="valid", output_size=None, **kwargs):
        super().__init__(**kwargs)
        self._init_geometry(pool_size, strides, padding)
        self.output_size = None if output_size is None else _pair(output_size, "output_size")

    def build(self, input_shape):
        self._check_shapes(input_shape)

    def _check_shapes(self, input_shape):
        """(pooled shape, output shape) of `[pooled, positions]` shapes."""
        what = "mask" if self.output_size is None else "argmax"
        if not isinstance(input_shape, (list, tuple)) or len(input_shape) != 2:
            raise ValueError(
                f"MaxUnpooling2D takes [pooled, {what}], the two outputs of "
                f"MaxPoolingWithArgmax2D. Received: input_shape={input_shape!r}"
            )
        pooled_shape, positions_shape = (tuple(s) for s in input_shape)
        if self.output_size is None:
            out_shape = positions_shape
        else:
            out_shape = (positions_shape[0], *self.output_size, *positions_shape[3:])
        _static_hwc(out_shape, type(self).__name__)
        expected = self._pooled_shape(out_shape)
        shapes = [pooled_shape] + ([positions_shape] if self.output_size else [])
        if any(len(s) != 4 or any(a is not None and b is not None and a != b
                                  for a, b in zip(s, expected)) for s in shapes):
            raise ValueError(
                f"pooled{' and argmax' if self.output_size else ''} must have shape "
                f"{expected}: the shape {out_shape} pooled with pool_size={self.pool_size}, "
                f"strides={self.strides}, padding={self.padding!r}. Pass the same "
                f"arguments as the pooling layer. Received: pooled.shape={pooled_shape}, "
                f"{what}.shape={positions_shape}"
            )
        return pooled_shape, out_shape

    def call(self, inputs):
        pooled, positions = inputs
        _, (_, height, width, channels) = self._check_shapes([pooled.shape, positions.shape])
        offsets = self._offsets(height, width)
        integer = positions.dtype.is_integer
        if integer != (self.output_size is not None):
            raise ValueError(
                "MaxUnpooling2D unpools at a float mask when output_size is None, or at "
                "int64 argmax indices when output_size=(H, W) is given. Received: "
                f"{positions.dtype.name} positions with output_size={self.output_size}"
            )
        size = (height, width)
        if _exact_grid(size, pooled.shape[1:3], self.strides, offsets):
            # Broadcast each pooled value over its window: no Tile, no Slice.
            mask = (_window_mask(positions, width, channels, self.strides) if integer
                    else _windows(positions, self.strides))
            values = _cells(pooled) * tf.cast(mask, pooled.dtype)
            return tf.reshape(values, [-1, height, width, channels])
        values = _to_cells(pooled, size, self.strides, offsets, fill=0)
        mask = (_argmax_to_mask(positions, size, channels, self.strides, offsets, values.dtype)
                if integer else tf.cast(positions, values.dtype))
        return values * mask

    def compute_output_shape(self, input_shape):
        pooled_shape, out_shape = self._check_shapes(input_shape)
        return (pooled_shape[0], *out_shape[1:])

    def get_config(self):
        return {**super().get_config(), **self._geometry_config(), "output_size": self.output_size}
