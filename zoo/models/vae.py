"""Variational autoencoder with a Bernoulli pixel likelihood.

Model: p(z) = N(0, I); q(z|x) = N(mean(x), diag(exp(log_var(x)))); p(x|z) =
prod_pixels Bernoulli(x_i; sigmoid(logits_i(z))) with x in [0, 1] (the usual,
"non-normalised" Bernoulli for grey images). The training loss is the
negative ELBO per image, in nats:

    BernoulliNLL(x, decode(z)) + KL(q(z|x) || p(z)),  z = mean + sigma * eps

where the KL is added by the registered `KLDivergence` layer (`add_loss`,
training only) and `BernoulliNLL` is the registered compile loss: no Lambda,
no closure, so the `.keras` round trip restores both.
"""

from zoo import backend  # noqa: F401

import keras
import numpy as np
from keras import layers, ops
from scipy.special import logsumexp

from zoo.layers import Sampling
from zoo.models.autoencoders import AutoencoderMixin, _input_shape, _mlp, _positive_ints, check_images

_LOG_2PI = float(np.log(2.0 * np.pi))


def bernoulli_nll(y_true, y_pred, epsilon=1e-7):
    """-log p(y_true | y_pred) per image, summed over all pixels, in nats.

    Args:
        y_true: targets in [0, 1], [N, ...].
        y_pred: Bernoulli means (probabilities) of the same shape; clipped
            to [epsilon, 1 - epsilon].
    """
    y_true = ops.cast(y_true, y_pred.dtype)
    p = ops.clip(y_pred, epsilon, 1.0 - epsilon)
    nll = -(y_true * ops.log(p) + (1.0 - y_true) * ops.log(1.0 - p))
    return ops.sum(ops.reshape(nll, (ops.shape(nll)[0], -1)), axis=-1)


@keras.saving.register_keras_serializable(package="zoo")
class BernoulliNLL(keras.losses.Loss):
    """`bernoulli_nll` as a Keras loss (per-image sum, batch mean)."""

    def __init__(self, name="bernoulli_nll", reduction="sum_over_batch_size", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def call(self, y_true, y_pred):
        return bernoulli_nll(y_true, y_pred)

    def get_config(self):
        return {"name": self.name, "reduction": self.reduction, "dtype": self.dtype}


def gaussian_kl(mean, log_var):
    """KL(N(mean, exp(log_var)) || N(0, I)) per row, in nats."""
    return -0.5 * ops.sum(1.0 + log_var - ops.square(mean) - ops.exp(log_var), axis=-1)


@keras.saving.register_keras_serializable(package="zoo")
class KLDivergence(layers.Layer):
    """Identity on `[mean, log_var]` that adds `weight * mean_batch(KL)` as a
    loss when `training` is true (inference and export graphs carry no loss).

    Args:
        weight: the KL weight (1.0 is the true ELBO).
        **kwargs: base `keras.layers.Layer` arguments.
    """

    def __init__(self, weight=1.0, **kwargs):
        super().__init__(**kwargs)
        if not float(weight) >= 0.0:
            raise ValueError(f"weight must be >= 0. Received: weight={weight!r}")
        self.weight = float(weight)

    def call(self, inputs, training=None):
        mean, log_var = inputs
        if training:
            self.add_loss(self.weight * ops.mean(gaussian_kl(mean, log_var)))
        return [mean, log_var]

    def compute_output_shape(self, input_shape):
        return list(input_shape)

    def get_config(self):
        return {**super().get_config(), "weight": self.weight}


@keras.saving.register_keras_serializable(package="zoo")
class VAE(AutoencoderMixin, keras.Model):
    """MLP VAE: encode image -> (mean, log_var), `Sampling`, decode code -> image.

    The reconstruct graph is deterministic: `Sampling` returns the mean
    outside training. The decode graph outputs Bernoulli means in [0, 1].

    Args:
        image_shape: (H, W, C) of the input.
        latent_dim: size of z.
        widths: hidden widths of the encoder; the decoder mirrors them.
        seed: seed of the training-time noise (`Sampling`).
        **kwargs: `keras.Model` arguments (name, trainable).
    """

    HYPERPARAMETERS = ("image_shape", "latent_dim", "widths", "seed")

    def __init__(self, image_shape=(28, 28, 1), latent_dim=16, widths=(192, 96), seed=None,
                 **kwargs):
        image_shape, widths = _input_shape(image_shape), _positive_ints(widths, "widths")
        (latent_dim,) = _positive_ints(latent_dim, "latent_dim")
        image = keras.Input(image_shape, name="image")
        h = _mlp(layers.Flatten(name="flatten")(image), widths, "enc")
        mean = layers.Dense(latent_dim, name="mean")(h)
        log_var = layers.Dense(latent_dim, name="log_var")(h)
        encode = keras.Model(image, [mean, log_var], name="encode")
        code_in = keras.Input((latent_dim,), name="code")
        logits = layers.Dense(int(np.prod(image_shape)), name="logits")(
            _mlp(code_in, widths[::-1], "dec"))
        pixels = layers.Activation("sigmoid", name="probabilities")(logits)
        decode = keras.Model(code_in, layers.Reshape(image_shape, name="image")(pixels),
                             name="decode")
        outer = keras.Input(image_shape, name="image")
        mean_log_var = KLDivergence(name="kl")(encode(outer))
        z = Sampling(seed=seed, name="sampling")(mean_log_var)
        super().__init__(outer, decode(z), **{"name": "vae", **kwargs})
        self.image_shape, self.latent_dim, self.widths, self.seed = image_shape, latent_dim, widths, seed

    @property
    def code_size(self):
        return self.latent_dim

    def generate(self, n, seed=0):
        """`n` images (Bernoulli means) decoded from z ~ N(0, I); same seed, same images."""
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"n must be a positive int. Received: n={n!r}")
        z = np.random.default_rng(seed).standard_normal((int(n), self.latent_dim))
        return self.decode_codes(z.astype(np.float32))

    def _logits_model(self):
        decode = self.get_layer("decode")
        return keras.Model(decode.inputs[0], decode.get_layer("logits").output)

    def log_likelihood(self, images, k=1, seed=0, eps=None, batch_size=None):
        """Per-image ELBO and importance-weighted bound (IWAE), in nats.

        See `likelihood_bounds`; images in [0, 1] (refused outside).

        Returns:
            {"elbo": [N], "iwae": [N]} float64 arrays.
        """
        x = check_images(images, self.image_shape)
        return likelihood_bounds(self.get_layer("encode"), self._logits_model(), x, k=k,
                                 seed=seed, eps=eps, batch_size=batch_size)


def likelihood_bounds(encoder, logits_decoder, images, k=1, seed=0, eps=None, batch_size=None):
    """Per-image ELBO and IWAE bound of a Bernoulli VAE, in nats.

    With z_j = mean + exp(log_var / 2) * eps_j, j = 1..k, and
    log w_j = log p(x|z_j) + log N(z_j; 0, I) - log N(z_j; mean, var):
        elbo = mean_j log p(x|z_j) - KL(q(z|x) || p(z))   (analytic KL)
        iwae = logsumexp_j(log w_j) - log k   (<= log p(x); >= elbo on average)

    Args:
        encoder: a model image -> [mean, log_var].
        logits_decoder: a model z -> Bernoulli logits (any shape per image).
        images: [N, ...] float images in [0, 1].
        k: number of samples per image, >= 1.
        seed: seed of eps when `eps` is None.
        eps: optional explicit noise [k, N, latent_dim].
        batch_size: images per decoder call (default: ~8192 / k, >= 1).

    Returns:
        {"elbo": [N], "iwae": [N]} float64 arrays.
    """
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k (samples per image) must be an int >= 1, e.g. k=1000 for IWAE. "
                         f"Received: k={k!r}")
    x = np.asarray(images, np.float32)
    flat = x.reshape(len(x), -1).astype(np.float64)
    mean, log_var = (np.asarray(a, np.float64) for a in encoder.predict(x, batch_size=512, verbose=0))
    latent = mean.shape[1]
    if eps is not None:
        eps = np.asarray(eps, np.float64)
        if eps.shape != (k, len(x), latent):
            raise ValueError(f"eps must have shape (k, N, latent_dim) = {(k, len(x), latent)}. "
                             f"Received: eps.shape={eps.shape}")
    rng = np.random.default_rng(seed)
    batch = batch_size or max(1, 8192 // k)
    elbo, iwae = np.empty(len(x)), np.empty(len(x))
    for start in range(0, len(x), batch):
        sl = slice(start, min(start + batch, len(x)))
        m, lv = mean[sl], log_var[sl]
        e = eps[:, sl] if eps is not None else rng.standard_normal((k, *m.shape))
        z = m + np.exp(0.5 * lv) * e  # [k, b, d]
        logits = np.asarray(logits_decoder(z.reshape(-1, latent).astype(np.float32)),
                            np.float64).reshape(k, len(m), -1)
        log_px = np.sum(flat[sl] * logits - np.logaddexp(0.0, logits), axis=-1)  # [k, b]
        log_pz = -0.5 * np.sum(z ** 2 + _LOG_2PI, axis=-1)
        log_qz = -0.5 * np.sum(e ** 2 + lv + _LOG_2PI, axis=-1)
        kl = -0.5 * np.sum(1.0 + lv - m ** 2 - np.exp(lv), axis=-1)
        elbo[sl] = log_px.mean(axis=0) - kl
        iwae[sl] = logsumexp(log_px + log_pz - log_qz, axis=0) - np.log(k)
    return {"elbo": elbo, "iwae": iwae}


def build_vae(image_shape=(28, 28, 1), latent_dim=16, widths=(192, 96), seed=None,
              learning_rate=1e-3):
    """A `VAE` compiled with Adam and `BernoulliNLL` (+ the KL layer's loss)."""
    model = VAE(image_shape, latent_dim, widths, seed)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=BernoulliNLL())
    return model
