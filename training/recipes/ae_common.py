"""Shared pieces of the autoencoder recipes: data, fit, PCA baseline, figures."""

from __future__ import annotations

import numpy as np

from zoo.training.datasets import to_float
from zoo.training.recipes.common import fashion_splits
from zoo.training.runner import array_epochs, fit
from zoo.evaluation import _plot

def fashion_data(seed=0, quick=False):
    """`common.fashion_splits` as float32 [N, 28, 28, 1] in [0, 1].

    Returns:
        {"fit": (x, y), "val": (x, y), "test": (x, y)}; `quick` keeps
        2,000 / 500 / 1,000 images.
    """
    splits = fashion_splits(seed, (2000, 500, 1000) if quick else None)
    return {key: (to_float(x), y) for key, (x, y) in
            zip(("fit", "val", "test"), splits.values())}


def fit_autoencoder(model, x_fit, x_val, *, epochs, batch_size, run_dir, seed, config):
    """`fit` with the images as their own targets; returns the `RunResult`."""
    data = array_epochs(x_fit, x_fit, batch_size, seed=seed)
    validation = array_epochs(x_val, x_val, 1024).make(0)
    return fit(model, data, epochs=epochs, run_dir=run_dir, validation=validation, seed=seed,
               config=config)


def flat(x):
    return np.asarray(x, np.float64).reshape(len(x), -1)


def mse(x, x_hat):
    """Mean squared error per pixel, averaged over images."""
    return float(np.mean((flat(x) - flat(x_hat)) ** 2))


_SVD_CACHE = {}


def pca_fit(x_train, k):
    """(mean [D], basis [k, D]) of the top-k principal components of `x_train`.

    The SVD of the last array seen is cached (keyed by its identity, shape
    and a content checksum), so one recipe fits PCA once for every k.
    """
    key = (id(x_train), np.shape(x_train), float(np.asarray(x_train).ravel()[::997].sum()))
    if key not in _SVD_CACHE:
        x = flat(x_train)
        mean = x.mean(axis=0)
        _, _, vt = np.linalg.svd(x - mean, full_matrices=False)
        _SVD_CACHE.clear()
        _SVD_CACHE[key] = (mean, vt)
    mean, vt = _SVD_CACHE[key]
    return mean, vt[:k]


def pca_codes(x, mean, basis):
    return (flat(x) - mean) @ basis.T


def pca_mse(x_test, mean, basis):
    """Test MSE of the rank-k PCA reconstruction."""
    return mse(x_test, pca_codes(x_test, mean, basis) @ basis + mean)


def save_rows(path, rows, labels, title, cols=10):
    """A grid PNG: one row per image array [n, H, W, 1] (first `cols` of each)."""
    fig, _ = _plot.new_figure((cols * 0.9, len(rows) * 0.95 + 0.4))
    fig.clear()
    for r, images in enumerate(rows):
        for c in range(min(cols, len(images))):
            ax = fig.add_subplot(len(rows), cols, r * cols + c + 1)
            ax.imshow(np.asarray(images[c])[..., 0], cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([]), ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(labels[r], fontsize=7)
    fig.suptitle(title, fontsize=9)
    return _plot.save_png(fig, path)


def save_grid(path, images, title):
    """A square mosaic PNG of images [n*n, H, W, 1]."""
    n = int(round(np.sqrt(len(images))))
    h, w = images.shape[1:3]
    mosaic = np.asarray(images[: n * n, ..., 0]).reshape(n, n, h, w).transpose(0, 2, 1, 3)
    fig, ax = _plot.new_figure((4.4, 4.6))
    ax.imshow(mosaic.reshape(n * h, n * w), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_xticks([]), ax.set_yticks([])
    ax.set_title(title, fontsize=9)
    return _plot.save_png(fig, path)


def gaussian_code_samples(codes, n, seed=0):
    """`n` codes from a Gaussian fitted to `codes` (mean and full covariance)."""
    codes = np.asarray(codes, np.float64)
    rng = np.random.default_rng(seed)
    return rng.multivariate_normal(codes.mean(0), np.cov(codes, rowvar=False), n).astype(np.float32)


def principal_plane_grid(codes, n=15, span=2.0):
    """n*n codes on the plane of the two main principal directions of `codes`,
    from -span to +span standard deviations, the other directions at the mean."""
    codes = np.asarray(codes, np.float64)
    mean = codes.mean(0)
    _, s, vt = np.linalg.svd(codes - mean, full_matrices=False)
    sd = s[:2] / np.sqrt(len(codes) - 1)
    t = np.linspace(-span, span, n)
    a, b = np.meshgrid(t, t[::-1])
    grid = mean + (a.reshape(-1, 1) * sd[0]) * vt[0] + (b.reshape(-1, 1) * sd[1]) * vt[1]
    return grid.astype(np.float32)


def compare_with_pca(model, x_fit, x):
    """(AE test MSE, PCA test MSE, PCA mean, PCA basis) at the model's code size.

    Args:
        model: an autoencoder with `code_size` and `reconstruct_images`.
        x_fit: the images PCA is fit on (the AE's training split).
        x: the test images.
    """
    mean, basis = pca_fit(x_fit, model.code_size)
    return mse(x, model.reconstruct_images(x)), pca_mse(x, mean, basis), mean, basis
