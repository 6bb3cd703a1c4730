"""Deterministic autoencoders: deep MLP, linear (PCA), conv with argmax unpooling.

Each model is a registered `keras.Model` subclass built in functional style
(keras-hub pattern): `__init__` takes the hyper-parameters, builds the graph,
and `get_config` mirrors `__init__`. Export graphs follow
`zoo.models.graphs`: the nested sub-model "encode" maps `image` -> `code`,
"decode" maps `code` -> `image`, and the whole model is "reconstruct".
Inputs are float32 images in [0, 1].
"""

from zoo import backend  # noqa: F401

import keras
import numpy as np
from keras import layers, ops

from zoo.layers import MaxPoolingWithArgmax2D, MaxUnpooling2D


def _positive_ints(value, name):
    values = tuple(value) if isinstance(value, (list, tuple)) else (value,)
    if not values or any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1
                         for v in values):
        raise ValueError(f"{name} must be positive int(s). Received: {name}={value!r}")
    return tuple(int(v) for v in values)


def _input_shape(value):
    shape = _positive_ints(value, "input_shape")
    if len(shape) != 3:
        raise ValueError(f"input_shape must be (H, W, C). Received: input_shape={value!r}")
    return shape


def check_images(images, input_shape):
    """float32 images in [0, 1] of `input_shape` (a channel axis is added if missing).

    Raises:
        ValueError: wrong shape, NaN/inf, or values outside [0, 1] (divide
            uint8 images by 255 first).
    """
    x = np.asarray(images, dtype=np.float32)
    if x.ndim == len(input_shape) and input_shape[-1] == 1:
        x = x[..., None]
    if x.shape[1:] != tuple(input_shape):
        raise ValueError(f"images must have shape (N, {', '.join(map(str, input_shape))}). "
                         f"Received: images.shape={np.shape(images)}")
    if not np.all(np.isfinite(x)) or x.min(initial=0.0) < 0.0 or x.max(initial=0.0) > 1.0:
        raise ValueError("images must be finite floats in [0, 1]; scale uint8 images by 1/255. "
                         f"Received: min={np.nanmin(x) if x.size else None}, "
                         f"max={np.nanmax(x) if x.size else None}")
    return x


class AutoencoderMixin:
    """What the autoencoders share: a `get_config` that mirrors `__init__`
    (the names in `HYPERPARAMETERS`) and checked NumPy encode / decode /
    reconstruct helpers."""

    HYPERPARAMETERS = ()

    def get_config(self):
        return {"name": self.name, "trainable": self.trainable,
                **{k: getattr(self, k) for k in self.HYPERPARAMETERS}}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def encode_images(self, images, batch_size=512):
        """Codes [N, k] of images in [0, 1] (refused outside [0, 1])."""
        x = check_images(images, self.image_shape)
        return self.get_layer("encode").predict(x, batch_size=batch_size, verbose=0)

    def decode_codes(self, code, batch_size=512):
        """Images [N, H, W, C] decoded from codes [N, code_size].

        Raises:
            ValueError: when the code width is not `code_size`.
        """
        code = np.asarray(code, dtype=np.float32)
        if code.ndim != 2 or code.shape[1] != self.code_size:
            raise ValueError(f"code must have shape (N, {self.code_size}) for this model "
                             f"(code_size={self.code_size}). Received: code.shape={code.shape}")
        return self.get_layer("decode").predict(code, batch_size=batch_size, verbose=0)

    def reconstruct_images(self, images, batch_size=512):
        """Deterministic reconstructions of images in [0, 1]."""
        x = check_images(images, self.image_shape)
        return self.predict(x, batch_size=batch_size, verbose=0)


def _mlp(x, widths, prefix):
    for i, width in enumerate(widths):
        x = layers.Dense(width, activation="relu", name=f"{prefix}_dense{i}")(x)
    return x


@keras.saving.register_keras_serializable(package="zoo")
class DenseAutoencoder(AutoencoderMixin, keras.Model):
    """Deep MLP autoencoder: 784-192-96-k, mirrored, ReLU, sigmoid output.

    Args:
        image_shape: (H, W, C) of the input.
        code_size: k, the width of the linear bottleneck.
        widths: hidden widths of the encoder; the decoder mirrors them.
        **kwargs: `keras.Model` arguments (name, trainable).
    """

    HYPERPARAMETERS = ("image_shape", "code_size", "widths")

    def __init__(self, image_shape=(28, 28, 1), code_size=32, widths=(192, 96), **kwargs):
        image_shape, widths = _input_shape(image_shape), _positive_ints(widths, "widths")
        (code_size,) = _positive_ints(code_size, "code_size")
        image = keras.Input(image_shape, name="image")
        code = layers.Dense(code_size, name="code")(
            _mlp(layers.Flatten(name="flatten")(image), widths, "enc"))
        encode = keras.Model(image, code, name="encode")
        code_in = keras.Input((code_size,), name="code")
        pixels = layers.Dense(int(np.prod(image_shape)), activation="sigmoid", name="pixels")(
            _mlp(code_in, widths[::-1], "dec"))
        decode = keras.Model(code_in, layers.Reshape(image_shape, name="image")(pixels),
                             name="decode")
        outer = keras.Input(image_shape, name="image")
        super().__init__(outer, decode(encode(outer)), **{"name": "ae_dense", **kwargs})
        self.image_shape, self.code_size, self.widths = image_shape, code_size, widths



@keras.saving.register_keras_serializable(package="zoo")
class PixelMean(layers.Layer):
    """Subtract (`sign=-1`) or add (`sign=+1`) a fixed per-feature mean.

    The mean is a non-trainable weight (zeros until `set_mean`), so a linear
    autoencoder on mean-centred data still takes raw [0, 1] images.

    Args:
        sign: -1 (centre) or +1 (un-centre).
        **kwargs: base `keras.layers.Layer` arguments.
    """

    def __init__(self, sign=-1, **kwargs):
        super().__init__(**kwargs)
        if sign not in (-1, 1):
            raise ValueError(f"sign must be -1 (subtract) or +1 (add). Received: sign={sign!r}")
        self.sign = int(sign)

    def build(self, input_shape):
        self.mean = self.add_weight(shape=(input_shape[-1],), initializer="zeros",
                                    trainable=False, name="mean")

    def set_mean(self, mean):
        mean = np.asarray(mean, np.float32).reshape(-1)
        if mean.shape != tuple(self.mean.shape):
            raise ValueError(f"mean must have {self.mean.shape[0]} values. "
                             f"Received: mean.shape={mean.shape}")
        self.mean.assign(mean)

    def call(self, inputs):
        return inputs + self.sign * ops.cast(self.mean, inputs.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "sign": self.sign}


@keras.saving.register_keras_serializable(package="zoo")
class LinearAutoencoder(AutoencoderMixin, keras.Model):
    """One linear encoder Dense(k) and one linear decoder Dense(D), no biases,
    on mean-centred input: x_hat = mean + (x - mean) W_enc W_dec.

    At the MSE optimum the decoder rows span the top-k principal subspace
    (Baldi & Hornik 1989); `from_svd` builds that optimum in closed form.

    Args:
        image_shape: (H, W, C) of the input.
        code_size: k.
        **kwargs: `keras.Model` arguments (name, trainable).
    """

    HYPERPARAMETERS = ("image_shape", "code_size")

    def __init__(self, image_shape=(28, 28, 1), code_size=32, **kwargs):
        image_shape = _input_shape(image_shape)
        (code_size,) = _positive_ints(code_size, "code_size")
        dim = int(np.prod(image_shape))
        image = keras.Input(image_shape, name="image")
        x = PixelMean(-1, name="center")(layers.Flatten(name="flatten")(image))
        encode = keras.Model(image, layers.Dense(code_size, use_bias=False, name="code")(x),
                             name="encode")
        code_in = keras.Input((code_size,), name="code")
        y = PixelMean(1, name="uncenter")(
            layers.Dense(dim, use_bias=False, name="project")(code_in))
        decode = keras.Model(code_in, layers.Reshape(image_shape, name="image")(y), name="decode")
        outer = keras.Input(image_shape, name="image")
        super().__init__(outer, decode(encode(outer)), **{"name": "ae_linear", **kwargs})
        self.image_shape, self.code_size = image_shape, code_size

    def set_mean(self, mean):
        """Set the (non-trainable) pixel mean of both the encoder and decoder."""
        self.get_layer("encode").get_layer("center").set_mean(mean)
        self.get_layer("decode").get_layer("uncenter").set_mean(mean)

    @property
    def decoder_basis(self):
        """The decoder weight [k, D]: its rows span the learned subspace."""
        return np.asarray(self.get_layer("decode").get_layer("project").kernel)

    @classmethod
    def from_svd(cls, x, k, **kwargs):
        """The closed-form optimum: truncated SVD of the centred data.

        Args:
            x: training images [N, H, W, C] (or [N, H, W]) in [0, 1].
            k: code size, 1 <= k <= min(N, D).
            **kwargs: passed to the constructor (e.g. name).

        Returns:
            A `LinearAutoencoder` whose reconstruction is the rank-k PCA
            projection mean + (x - mean) V_k V_k^T.
        """
        x = np.asarray(x, np.float64)
        x = x[..., None] if x.ndim == 3 else x
        flat = x.reshape(len(x), -1)
        if not 1 <= int(k) <= min(flat.shape):
            raise ValueError(f"k must be in [1, min(N, D)] = [1, {min(flat.shape)}]. Received: k={k!r}")
        mean = flat.mean(axis=0)
        _, _, vt = np.linalg.svd(flat - mean, full_matrices=False)
        model = cls(image_shape=x.shape[1:], code_size=int(k), **kwargs)
        model.set_mean(mean)
        basis = vt[: int(k)].astype(np.float32)
        model.get_layer("encode").get_layer("code").kernel.assign(basis.T)
        model.get_layer("decode").get_layer("project").kernel.assign(basis)
        return model


def from_svd(x, k, **kwargs):
    """`LinearAutoencoder.from_svd(x, k)`: closed-form truncated-SVD autoencoder."""
    return LinearAutoencoder.from_svd(x, k, **kwargs)


@keras.saving.register_keras_serializable(package="zoo")
class UnpoolingAutoencoder(AutoencoderMixin, keras.Model):
    """Conv autoencoder whose decoder unpools at the encoder's argmax positions
    (SegNet style): Conv-ReLU + `MaxPoolingWithArgmax2D` per block, then a
    Dense code; the decoder maps the code back with Dense + Reshape and, per
    block in reverse, `MaxUnpooling2D([x, mask])` + Conv.

    Graphs: `encode` (image -> code) and `reconstruct` (the whole model).
    There is no standalone `decode`: the decoder also needs the pooling
    masks, which come from the image, not from the code. The nested
    "argmax_masks" model shares the encoder's conv layers and recomputes the
    masks (the conv trunk runs twice per forward pass, with one set of
    weights); "unpool_decoder" takes [code, mask_1, ..., mask_n].

    Args:
        image_shape: (H, W, C); H and W divisible by 2 ** len(widths).
        code_size: k, the Dense bottleneck width.
        widths: conv filters per encoder block.
        **kwargs: `keras.Model` arguments (name, trainable).
    """

    HYPERPARAMETERS = ("image_shape", "code_size", "widths")

    def __init__(self, image_shape=(28, 28, 1), code_size=32, widths=(16, 32), **kwargs):
        image_shape, widths = _input_shape(image_shape), _positive_ints(widths, "widths")
        (code_size,) = _positive_ints(code_size, "code_size")
        factor = 2 ** len(widths)
        if image_shape[0] % factor or image_shape[1] % factor:
            raise ValueError(f"image height and width must be divisible by 2**len(widths)="
                             f"{factor}. Received: image_shape={image_shape}, widths={widths}")
        image = keras.Input(image_shape, name="image")
        x, masks = image, []
        for i, width in enumerate(widths):
            x = layers.Conv2D(width, 3, padding="same", activation="relu", name=f"enc_conv{i}")(x)
            x, mask = MaxPoolingWithArgmax2D(2, name=f"enc_pool{i}")(x)
            masks.append(mask)
        bottom = tuple(x.shape[1:])
        code = layers.Dense(code_size, name="code")(layers.Flatten(name="flatten")(x))
        encode = keras.Model(image, code, name="encode")
        argmax_masks = keras.Model(image, masks, name="argmax_masks")  # shares the conv layers

        code_in = keras.Input((code_size,), name="code")
        mask_in = [keras.Input(tuple(m.shape[1:]), name=f"mask_{i + 1}") for i, m in enumerate(masks)]
        y = layers.Dense(int(np.prod(bottom)), activation="relu", name="dec_dense")(code_in)
        y = layers.Reshape(bottom, name="dec_reshape")(y)
        for i in reversed(range(len(widths))):
            y = MaxUnpooling2D(2, name=f"dec_unpool{i}")([y, mask_in[i]])
            last = i == 0
            y = layers.Conv2D(image_shape[-1] if last else widths[i - 1], 3, padding="same",
                              activation="sigmoid" if last else "relu", name=f"dec_conv{i}")(y)
        decoder = keras.Model([code_in, *mask_in], y, name="unpool_decoder")

        outer = keras.Input(image_shape, name="image")
        outer_masks = argmax_masks(outer)
        outer_masks = outer_masks if isinstance(outer_masks, (list, tuple)) else [outer_masks]
        recon = decoder([encode(outer), *outer_masks])
        super().__init__(outer, recon, **{"name": "cae_unpool", **kwargs})
        self.image_shape, self.code_size, self.widths = image_shape, code_size, widths


    def decode_codes(self, code, batch_size=512):
        raise NotImplementedError(
            "cae_unpool has no standalone decoder: unpooling needs the argmax masks of an "
            "image. Use reconstruct_images(images), or unpool_decode(code, images) to decode "
            f"codes with the masks of given images. Received: code.shape={np.shape(code)}")

    def unpool_decode(self, code, images):
        """Decode `code` [N, k] with the pooling masks of `images` [N, H, W, C]."""
        code = np.asarray(code, np.float32)
        if code.ndim != 2 or code.shape[1] != self.code_size:
            raise ValueError(f"code must have shape (N, {self.code_size}). "
                             f"Received: code.shape={code.shape}")
        masks = self.get_layer("argmax_masks").predict(check_images(images, self.image_shape),
                                                       verbose=0)
        masks = masks if isinstance(masks, (list, tuple)) else [masks]
        return self.get_layer("unpool_decoder").predict([code, *masks], verbose=0)


def _compiled(model, learning_rate=1e-3):
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="mse")
    return model


def build_dense_ae(image_shape=(28, 28, 1), code_size=32, widths=(192, 96)):
    """A compiled (Adam 1e-3, MSE) `DenseAutoencoder`."""
    return _compiled(DenseAutoencoder(image_shape, code_size, widths))


def build_linear_ae(image_shape=(28, 28, 1), code_size=32, learning_rate=1e-3):
    """A compiled (Adam, MSE) `LinearAutoencoder`; set its mean before training."""
    return _compiled(LinearAutoencoder(image_shape, code_size), learning_rate)


def build_cae_unpool(image_shape=(28, 28, 1), code_size=32, widths=(16, 32)):
    """A compiled (Adam 1e-3, MSE) `UnpoolingAutoencoder`."""
    return _compiled(UnpoolingAutoencoder(image_shape, code_size, widths))
