"""Autoencoder entries: deep MLP, linear (PCA), conv with argmax unpooling, VAE."""

from zoo.entries._common import entry

_IMAGE = (28, 28, 1)
_ALL = ("encode", "decode", "reconstruct")

entry(
    name="ae_dense",
    builder="zoo.models.autoencoders:build_dense_ae",
    task="reconstruction",
    covers="Autoencoders: deep (MLP) autoencoder, undercomplete code k=32 "
    "(and the 2-D bottleneck visualisation)",
    summary="Deep MLP autoencoder 784-192-96-32 mirrored, ReLU, sigmoid output, MSE.",
    input_shape=_IMAGE,
    graphs=_ALL,
    dataset="fashion_mnist",
    defaults={"image_shape": _IMAGE, "code_size": 32, "widths": (192, 96)},
    tiny={"code_size": 4, "widths": (16, 8)},
    recipe="zoo.training.recipes.ae_dense",
)

entry(
    name="ae_linear",
    builder="zoo.models.autoencoders:build_linear_ae",
    task="reconstruction",
    covers="Autoencoders: the linear autoencoder spans the PCA subspace",
    summary="Linear autoencoder Dense(32)/Dense(784) on mean-centred pixels; closed form = PCA.",
    input_shape=_IMAGE,
    graphs=_ALL,
    dataset="fashion_mnist",
    defaults={"image_shape": _IMAGE, "code_size": 32, "learning_rate": 1e-3},
    tiny={"code_size": 4},
    recipe="zoo.training.recipes.ae_linear",
)

entry(
    name="cae_unpool",
    builder="zoo.models.autoencoders:build_cae_unpool",
    task="reconstruction",
    covers="Autoencoders: convolutional autoencoder with unpooling at the max "
    "locations (argmax pooling masks)",
    summary="Conv autoencoder (16, 32 filters, code 32) whose decoder unpools at the "
    "encoder's argmax positions; encode outputs them, decode takes them back.",
    input_shape=_IMAGE,
    graphs=_ALL,  # encode -> (code, argmax_1, argmax_2); decode takes all three
    dataset="fashion_mnist",
    defaults={"image_shape": _IMAGE, "code_size": 32, "widths": (16, 32)},
    tiny={"code_size": 4, "widths": (4, 8)},
    recipe="zoo.training.recipes.cae_unpool",
)

entry(
    name="vae",
    builder="zoo.models.vae:build_vae",
    task="generative",
    covers="Autoencoders: variational autoencoder (reparameterization, ELBO, "
    "IWAE bound, sampling, latent manifold)",
    summary="MLP VAE, 16-D latent, Bernoulli pixel likelihood; encode -> (mean, log_var).",
    input_shape=_IMAGE,
    graphs=_ALL,  # encode -> (mean, log_var); reconstruct decodes the mean
    dataset="fashion_mnist",
    defaults={"image_shape": _IMAGE, "latent_dim": 16, "widths": (192, 96), "seed": None,
              "learning_rate": 1e-3},
    tiny={"latent_dim": 2, "widths": (16, 8), "seed": 0},
    recipe="zoo.training.recipes.vae",
)
