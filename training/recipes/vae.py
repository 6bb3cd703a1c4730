"""vae: the MLP VAE with a Bernoulli likelihood; ELBO and IWAE in nats."""

from zoo import backend  # noqa: F401

import numpy as np
from scipy.stats import norm

import zoo
from zoo.training.recipes import ae_common as ae
from zoo.training.recipes.common import fashion_dataset_card, save_result, seeded_model

EPOCHS = 30
dataset_card = fashion_dataset_card  # the card's split, for a full run
BATCH_SIZE = 128
IWAE_K = 1000
IWAE_IMAGES = 2000
LIKELIHOOD = ("Bernoulli on each pixel of the [0, 1] image (grey levels used as soft "
              "targets, the usual non-normalised Bernoulli for Fashion-MNIST); "
              "p(z) = N(0, I); q(z|x) diagonal Gaussian")


def train(run_dir, epochs=None, seed=0, quick=False, exclude_class=None, measure=True):
    """Train on 55k Fashion-MNIST images; the loss is the negative ELBO.

    Args:
        run_dir: the run folder.
        epochs: override `EPOCHS`.
        seed: seeds the split, the shuffling, the weights and the sampling noise.
        quick: 2,000 images, 1 epoch, tiny widths.
        exclude_class: leave this class out of training (anomaly scoring).
        measure: evaluate and write figures + result.json (else return the model).
    """
    data = ae.fashion_data(seed, quick)
    x_fit, y_fit = data["fit"]
    x_val, y_val = data["val"]
    if exclude_class is not None:
        x_fit, x_val = x_fit[y_fit != exclude_class], x_val[y_val != exclude_class]
    epochs = epochs or (1 if quick else EPOCHS)
    overrides = {**(dict(zoo.info("vae").tiny) if quick else {}), "seed": seed}
    model = seeded_model("vae", seed, **overrides)
    run = ae.fit_autoencoder(model, x_fit, x_val, epochs=epochs, batch_size=BATCH_SIZE,
                             run_dir=run_dir, seed=seed,
                             config={"model": "vae", "quick": quick, "batch_size": BATCH_SIZE,
                                     "exclude_class": exclude_class, **overrides})
    if not measure:
        return model, run
    metrics = evaluate(model, limit=1000 if quick else None)
    figures(model, data, run_dir)
    n_iwae = 200 if quick else IWAE_IMAGES
    return save_result(
        run_dir, model, metrics=metrics, seconds=run.seconds, epochs=epochs, seed=seed,
        dataset=fashion_dataset_card(seed, quick),
        notes={"likelihood": LIKELIHOOD,
               "loss": "negative ELBO per image in nats: Bernoulli NLL summed over pixels "
                       "(BernoulliNLL compile loss) + KL(q(z|x) || N(0, I)) (KLDivergence "
                       "layer, add_loss in training only); one reparameterised sample. "
                       "val_loss in history.csv is the reconstruction term only (no KL)",
               "elbo": "test_elbo: mean over all test images of E_q[log p(x|z)] (1 sample) "
                       "- analytic KL, in nats per image (higher is better)",
               "iwae": f"iwae_k{IWAE_K}: importance-weighted bound with k={IWAE_K} samples on "
                       f"the first {n_iwae} test images (k=1000 on all 10,000 is too slow on "
                       f"2 CPU cores); elbo_subset is the ELBO on the same images",
               "graphs": "decode: code (z) -> Bernoulli means; encode: image -> (mean, "
                         "log_var) of q(z|x); reconstruct decodes the mean of q(z|x) "
                         "(deterministic)",
               "input_range": "images in [0, 1]; the Python helpers refuse values outside",
               "manifold": "the two latent dimensions with the largest mean KL on the test "
                           "set swept over N(0,1) quantiles 0.05..0.95, the others at 0"},
        figures=["reconstructions.png", "samples.png", "manifold.png"],
    )


def evaluate(model, limit=None):
    """ELBO (all test images) and IWAE-1000 (first 2,000) in nats; reconstruction MSE.

    Args:
        model: a trained `VAE`.
        limit: evaluate on the first `limit` test images only (IWAE on 200).
    """
    data = ae.fashion_data(quick=limit is not None)
    x, x_fit = data["test"][0][:limit], data["fit"][0]
    n_iwae = 200 if limit is not None else IWAE_IMAGES
    elbo = model.log_likelihood(x, k=1, seed=1)["elbo"]
    bounds = model.log_likelihood(x[:n_iwae], k=IWAE_K, seed=2)
    mean, basis = ae.pca_fit(x_fit, model.latent_dim)
    return {"test": {"elbo": round(float(elbo.mean()), 2),
                     f"iwae_k{IWAE_K}": round(float(bounds["iwae"].mean()), 2),
                     "elbo_subset": round(float(bounds["elbo"].mean()), 2),
                     "iwae_images": n_iwae,
                     "mse": round(ae.mse(x, model.reconstruct_images(x)), 5),
                     f"pca{model.latent_dim}_mse": round(ae.pca_mse(x, mean, basis), 5),
                     "n": int(len(x))}}


def anomaly_scores(model, images, k=1, seed=0):
    """Anomaly score = -ELBO (nats): higher means less likely under the VAE."""
    return -model.log_likelihood(images, k=k, seed=seed)["elbo"]


def figures(model, data, run_dir):
    """reconstructions.png, samples.png (prior samples), manifold.png."""
    x = data["test"][0][:10]
    ae.save_rows(f"{run_dir}/reconstructions.png", [x, model.reconstruct_images(x)],
                 ["test", "VAE (mean z)"], "vae reconstructions: decode(mean(x))")
    ae.save_grid(f"{run_dir}/samples.png", model.generate(100, seed=0),
                 "vae: 100 samples from the prior (Bernoulli means)")
    mean, log_var = model.get_layer("encode").predict(data["test"][0], batch_size=512, verbose=0)
    kl = np.mean(-0.5 * (1 + log_var - mean ** 2 - np.exp(log_var)), axis=0)
    top = np.argsort(kl)[::-1][:2]
    t = norm.ppf(np.linspace(0.05, 0.95, 15))
    a, b = np.meshgrid(t, t[::-1])
    z = np.zeros((a.size, model.latent_dim), np.float32)
    z[:, top[0]], z[:, top[1]] = a.ravel(), b.ravel()
    ae.save_grid(f"{run_dir}/manifold.png", model.decode_codes(z),
                 f"vae latent manifold: z{top[0]} x z{top[1]} (largest KL), others 0")
