"""Deterministic autoencoders: deep MLP, linear (PCA), conv with argmax unpooling.

Each model is a registered `keras.Model` subclass built in functional style
(keras-hub pattern): `__init__` takes the hyper-parameters, builds the graph,
and `get_config` mirrors `__init__`. Export graphs follow
`zoo.models.graphs`: the nested sub-model "encode" maps `image` -> `code`,
"decode" maps `code` -> `image`, and the whole model is "reconstruct"
(cae_unpool's encode and decode also pass its argmax positions, declared in
`graph_extras`). Inputs are float32 images in [0, 1].
"""

from zoo import backend  # noqa: F401

import keras
import numpy as np
from keras import layers, ops

from zoo.layers import MaxPoolingWithArgmax2D, MaxUnpooling2D
from zoo.models.graphs import extra_names, output_names


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

    def encode_images(self, images, batch_size=512, return_dict=False):
        """Codes [N, k] of images in [0, 1] (refused outside [0, 1]); a VAE
        gives [mean, log_var].

        Args:
            images: [N, H, W, C] or [N, H, W] floats in [0, 1].
            batch_size: images per predict batch.
            return_dict: return every output of the `encode` graph by name
                instead, extra outputs included (cae_unpool: `code`,
                `argmax_1`, `argmax_2`), ready for `decode_codes(**...)`.
        """
        x = check_images(images, self.image_shape)
        out = self.get_layer("encode").predict(x, batch_size=batch_size, verbose=0)
        if return_dict:
            return dict(zip(output_names(self, "encode"), out if isinstance(out, list) else [out]))
        return out[0] if extra_names(self, "encode", "outputs") else out

    def decode_codes(self, code, batch_size=512, **extra):
        """Images [N, H, W, C] decoded from codes [N, code_size].

        Args:
            code: [N, code_size].
            batch_size: codes per predict batch.
            **extra: the `decode` graph's extra inputs by name, [N, ...]
                each (cae_unpool: `argmax_1`, `argmax_2` from
                `encode_images(images, return_dict=True)`).

        Raises:
            ValueError: a code of the wrong width, or a missing, unknown or
                wrongly shaped extra input.
        """
        code = np.asarray(code, dtype=np.float32)
        if code.ndim != 2 or code.shape[1] != self.code_size:
            raise ValueError(f"code must have shape (N, {self.code_size}) for this model "
                             f"(code_size={self.code_size}). Received: code.shape={code.shape}")
        decode = self.get_layer("decode")
        names = extra_names(self, "decode", "inputs")
        if sorted(extra) != sorted(names):
            raise ValueError(
                f"decode_codes of {self.name!r} takes the inputs {['code', *names]}: the "
                "encode outputs of the same images. Get them with encoded = "
                "encode_images(images, return_dict=True) and call decode_codes(**encoded). "
                f"Received: inputs={['code', *sorted(extra)]}")
        feeds = [code]
        for name, tensor in zip(names, decode.inputs[1:]):
            value = np.asarray(extra[name])
            want = (len(code), *tensor.shape[1:])
            if value.shape != want or value.dtype.kind not in ("iu" if "int" in tensor.dtype
                                                               else "iuf"):
                raise ValueError(
                    f"{name} must be {tensor.dtype} shaped {want}, like the encode output "
                    f"{name!r} of the same {len(code)} images. "
                    f"Received: {name}.shape={value.shape}, dtype={value.dtype}")
            feeds.append(value.astype(tensor.dtype))
        return decode.predict(feeds if names else code, batch_size=batch_size, verbose=0)

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
        x = np.asarray(x)
        x = x[..., None] if x.ndim == 3 else x
        if x.ndim != 4:
            raise ValueError(f"x must be images [N, H, W, C] or [N, H, W]. Received: x.shape={x.shape}")
        x = check_images(x, x.shape[1:]).astype(np.float64)
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
    block in reverse, `MaxUnpooling2D` at that block's argmax + Conv.

    Graphs (`graph_extras`): `encode` maps `image` to `code` plus one int64
    `argmax_K` per pooling stage K = 1..len(widths), counted from the image,
    shaped [N, H / 2**K, W / 2**K, widths[K-1]] (the flat per-sample index
    (y * W' + x) * C + c of each maximum in the stage's input [H', W', C]);
    `decode` takes `code` and the same `argmax_K`; `reconstruct` is
    decode(encode(image)), so the conv trunk runs once.

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
        names = _argmax_names(widths)
        image = keras.Input(image_shape, name="image")
        x, argmax, sizes = image, [], []
        for i, width in enumerate(widths):
            x = layers.Conv2D(width, 3, padding="same", activation="relu", name=f"enc_conv{i}")(x)
            sizes.append(tuple(x.shape[1:3]))
            x, positions = MaxPoolingWithArgmax2D(2, positions="argmax", name=f"enc_pool{i}")(x)
            argmax.append(positions)
        bottom = tuple(x.shape[1:])
        code = layers.Dense(code_size, name="code")(layers.Flatten(name="flatten")(x))
        encode = keras.Model(image, [code, *argmax], name="encode")

        code_in = keras.Input((code_size,), name="code")
        argmax_in = [keras.Input(tuple(a.shape[1:]), dtype="int64", name=n)
                     for a, n in zip(argmax, names)]
        y = layers.Dense(int(np.prod(bottom)), activation="relu", name="dec_dense")(code_in)
        y = layers.Reshape(bottom, name="dec_reshape")(y)
        for i in reversed(range(len(widths))):
            y = MaxUnpooling2D(2, output_size=sizes[i], name=f"dec_unpool{i}")([y, argmax_in[i]])
            last = i == 0
            y = layers.Conv2D(image_shape[-1] if last else widths[i - 1], 3, padding="same",
                              activation="sigmoid" if last else "relu", name=f"dec_conv{i}")(y)
        decode = keras.Model([code_in, *argmax_in], y, name="decode")

        outer = keras.Input(image_shape, name="image")
        super().__init__(outer, decode(encode(outer)), **{"name": "cae_unpool", **kwargs})
        self.image_shape, self.code_size, self.widths = image_shape, code_size, widths

    @property
    def graph_extras(self):
        """The argmax of each pooling stage: an extra output of `encode` and
        an extra input of `decode` (see `zoo.models.graphs`)."""
        names = _argmax_names(self.widths)
        return {"encode": {"outputs": names}, "decode": {"inputs": names}}

    def unpool_decode(self, code, images):
        """Decode `code` [N, k] with the argmax positions of `images` [N, H, W, C]."""
        encoded = self.encode_images(images, return_dict=True)
        return self.decode_codes(code, **{n: encoded[n] for n in _argmax_names(self.widths)})


def _argmax_names(widths):
    return tuple(f"argmax_{k}" for k in range(1, len(widths) + 1))


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
