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
  turned into the mask first (integer Div / Mod and Equal, no scatter).

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
    x = x[:, top : top + height, left : left + width, :]
    bottom, right = max(height - (h * sh - top), 0), max(width - (w * sw - left), 0)
    if bottom or right:
        x = tf.pad(x, [[0, 0], [0, bottom], [0, right], [0, 0]], constant_values=fill)
    return x


def _argmax_to_mask(argmax, size, channels, strides, offsets, dtype):
    """The mask [N, H, W, C] of per-sample flat NHWC argmax indices [N, h, w, C]."""
    height, width = size
    # Decode y and x before tiling so the -1 fill never matches a pixel.
    row = _to_cells(argmax // (width * channels), size, strides, offsets, fill=-1)
    col = _to_cells((argmax // channels) % width, size, strides, offsets, fill=-1)
    rows = tf.reshape(tf.range(height, dtype=row.dtype), [1, height, 1, 1])
    cols = tf.reshape(tf.range(width, dtype=col.dtype), [1, 1, width, 1])
    return tf.cast(tf.logical_and(tf.equal(row, rows), tf.equal(col, cols)), dtype)


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
        pooled, argmax = tf.nn.max_pool_with_argmax(
            inputs,
            ksize=[1, *self.pool_size, 1],
            strides=[1, *self.strides, 1],
            padding=self.padding.upper(),
            include_batch_in_index=False,
        )
        if self.positions == "argmax":
            return [pooled, tf.cast(argmax, tf.int64)]
        size = (height, width)
        mask = _argmax_to_mask(argmax, size, channels, self.strides,
                               self._offsets(height, width), self.compute_dtype)
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
        values = _to_cells(pooled, (height, width), self.strides, offsets, fill=0)
        mask = (_argmax_to_mask(positions, (height, width), channels, self.strides, offsets,
                                values.dtype)
                if integer else tf.cast(positions, values.dtype))
        return values * mask

    def compute_output_shape(self, input_shape):
        pooled_shape, out_shape = self._check_shapes(input_shape)
        return (pooled_shape[0], *out_shape[1:])

    def get_config(self):
        return {**super().get_config(), **self._geometry_config(), "output_size": self.output_size}
