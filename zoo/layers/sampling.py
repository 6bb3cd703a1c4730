"""The VAE reparameterization trick as a serializable layer."""

from zoo import backend  # noqa: F401  (pins the TF backend before Keras)

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="zoo")
class Sampling(keras.layers.Layer):
    """`z = mean + exp(0.5 * log_var) * eps`, the VAE reparameterization.

    Inputs are `[mean, log_var]` or `[mean, log_var, eps]`, all of one shape.

    - An explicit `eps` is always used, in training and inference alike (for
      tests, and for exporting a sampler that takes the noise as an input).
    - Otherwise, with `training=True` and `deterministic=False`, `eps` is
      drawn from N(0, I) with a `keras.random.SeedGenerator(seed)`.
    - Otherwise (`training=False` or `None`: inference and export, or
      `deterministic=True`) the layer returns `mean`: the mean path, the
      most likely code, so reconstructions and exported graphs are
      deterministic.

    Gradients flow to `mean` (1) and `log_var` (0.5 * exp(0.5 * log_var) *
    eps), never to `eps`.

    Args:
        seed: int or None, the seed of the noise generator. The same seed
            gives the same draws for a freshly built layer.
        deterministic: bool, always take the mean path unless `eps` is given.
        **kwargs: base `keras.layers.Layer` arguments.
    """

    def __init__(self, seed=None, deterministic=False, **kwargs):
        super().__init__(**kwargs)
        if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
            raise ValueError(f"seed must be an int or None. Received: seed={seed!r}")
        if not isinstance(deterministic, bool):
            raise ValueError(f"deterministic must be True or False. Received: deterministic={deterministic!r}")
        self.seed = seed
        self.deterministic = deterministic
        self.seed_generator = keras.random.SeedGenerator(seed)

    def _check_shapes(self, input_shape):
        if not isinstance(input_shape, (list, tuple)) or len(input_shape) not in (2, 3):
            raise ValueError(
                "Sampling takes [mean, log_var] or [mean, log_var, eps]. "
                f"Received: input_shape={input_shape!r}"
            )
        shapes = [tuple(s) for s in input_shape]
        first = shapes[0]
        for shape in shapes[1:]:
            if len(shape) != len(first) or any(
                a is not None and b is not None and a != b for a, b in zip(shape, first)
            ):
                raise ValueError(
                    "mean, log_var (and eps) must have the same shape; check "
                    f"the encoder's two heads. Received: shapes={shapes}"
                )
        return first

    def build(self, input_shape):
        self._check_shapes(input_shape)

    def call(self, inputs, training=None):
        self._check_shapes([x.shape for x in inputs])
        mean, log_var = inputs[0], inputs[1]
        if len(inputs) == 3:
            eps = ops.cast(inputs[2], mean.dtype)
        elif training and not self.deterministic:
            eps = keras.random.normal(ops.shape(mean), dtype=mean.dtype, seed=self.seed_generator)
        else:
            return mean
        return mean + ops.exp(0.5 * log_var) * eps

    def compute_output_shape(self, input_shape):
        return self._check_shapes(input_shape)

    def get_config(self):
        return {**super().get_config(), "seed": self.seed, "deterministic": self.deterministic}
