"""ae_linear: a linear autoencoder trained by gradient descent, checked against
the closed-form PCA / truncated-SVD solution (`from_svd`)."""

from zoo import backend  # noqa: F401

import keras
import numpy as np
from scipy.linalg import subspace_angles

import zoo
from zoo.training.recipes import ae_common as ae
from zoo.training.recipes.common import fashion_dataset_card, save_result, seeded_model
from zoo.models.autoencoders import from_svd

EPOCHS = 30
dataset_card = fashion_dataset_card  # the card's split, for a full run
BATCH_SIZE = 128
LEARNING_RATE = 1e-3


def train(run_dir, epochs=None, seed=0, quick=False):
    """Train the linear AE (mean set from the training images, then Adam with
    cosine decay on MSE).

    Args:
        run_dir: the run folder.
        epochs: override `EPOCHS`.
        seed: seeds the split, the shuffling and the weights.
        quick: 2,000 images, 1 epoch, code size 4.
    """
    data = ae.fashion_data(seed, quick)
    epochs = epochs or (1 if quick else EPOCHS)
    overrides = dict(zoo.info("ae_linear").tiny) if quick else {}
    model = seeded_model("ae_linear", seed, **overrides)
    model.set_mean(ae.flat(data["fit"][0]).mean(axis=0))
    # Cosine decay to 0: at a constant rate, Adam's noise keeps rotating the
    # directions near the (nearly degenerate) 32nd eigenvalue.
    steps = epochs * -(-len(data["fit"][0]) // BATCH_SIZE)
    model.compile(optimizer=keras.optimizers.Adam(
        keras.optimizers.schedules.CosineDecay(LEARNING_RATE, steps)), loss="mse")
    run = ae.fit_autoencoder(model, data["fit"][0], data["val"][0], epochs=epochs,
                             batch_size=BATCH_SIZE, run_dir=run_dir, seed=seed,
                             config={"model": "ae_linear", "quick": quick,
                                     "batch_size": BATCH_SIZE, **overrides})
    metrics = evaluate(model, limit=1000 if quick else None)
    figures(model, data, run_dir)
    return save_result(
        run_dir, model, metrics=metrics, seconds=run.seconds, epochs=epochs, seed=seed,
        dataset=fashion_dataset_card(seed, quick),
        notes={"optimizer": f"Adam, cosine decay from {LEARNING_RATE} to 0 over {epochs} epochs",
               "loss": "MSE per pixel; encoder and decoder are bias-free Dense layers on "
                       "pixels centred by the training mean (a non-trainable PixelMean weight)",
               "input_range": "images in [0, 1]; the Python helpers refuse values outside",
               "principal_angles": "scipy.linalg.subspace_angles between the decoder rows "
                                   "and the top-k principal components of the training images "
                                   "(PCA = numpy.linalg.svd of the centred training images); "
                                   "max_angle_top{k-1}_pcs_deg: the largest angle between the "
                                   "top k-1 PCs and the learned subspace; "
                                   "eigenvalue_ratio_k_k+1: how degenerate the k-th direction is",
               "closed_form": "LinearAutoencoder.from_svd(x, k) builds the optimum; its test "
                              "MSE is svd_mse"},
        figures=["reconstructions.png", "samples.png", "manifold.png", "basis.png"],
    )


def evaluate(model, limit=None):
    """Test MSE vs PCA-k and the closed form; principal angles to the PCA subspace.

    Args:
        model: a trained `LinearAutoencoder`.
        limit: evaluate on the first `limit` test images only.
    """
    data = ae.fashion_data(quick=limit is not None)
    x_fit, x = data["fit"][0], data["test"][0][:limit]
    k = model.code_size
    test_mse, pca, mean, basis = ae.compare_with_pca(model, x_fit, x)
    svd = from_svd(x_fit, k)
    learned = model.decoder_basis.T.astype(np.float64)
    angles = np.degrees(subspace_angles(learned, basis.T))
    # Angles of the top-(k-1) PCs to the learned subspace: near 0 when it
    # contains them, whatever happens to the k-th, nearly degenerate direction.
    inner = np.degrees(subspace_angles(learned, basis[: k - 1].T)) if k > 1 else np.zeros(1)
    eigen = np.linalg.svd(ae.flat(x_fit) - mean, compute_uv=False) ** 2 / (len(x_fit) - 1)
    return {"test": {"mse": round(test_mse, 6), f"pca{k}_mse": round(pca, 6),
                     "svd_mse": round(ae.mse(x, svd.reconstruct_images(x)), 6),
                     "mse_ratio_to_pca": round(test_mse / pca, 5),
                     "max_principal_angle_deg": round(float(angles.max()), 3),
                     "median_principal_angle_deg": round(float(np.median(angles)), 3),
                     f"max_angle_top{k - 1}_pcs_deg": round(float(inner.max()), 3),
                     f"eigenvalue_ratio_{k}_{k + 1}": round(float(eigen[k - 1] / eigen[k]), 5),
                     "n": int(len(x))}}


def figures(model, data, run_dir):
    """reconstructions.png, samples.png, manifold.png, basis.png."""
    x = data["test"][0][:10]
    svd = from_svd(data["fit"][0], model.code_size)
    ae.save_rows(f"{run_dir}/reconstructions.png",
                 [x, model.reconstruct_images(x).clip(0, 1), svd.reconstruct_images(x).clip(0, 1)],
                 ["test", "linear AE", "PCA (SVD)"], "ae_linear vs PCA reconstructions")
    codes = model.encode_images(data["fit"][0][:10000])
    ae.save_grid(f"{run_dir}/samples.png",
                 model.decode_codes(ae.gaussian_code_samples(codes, 100)).clip(0, 1),
                 "ae_linear: decoded Gaussian samples of the code")
    ae.save_grid(f"{run_dir}/manifold.png",
                 model.decode_codes(ae.principal_plane_grid(codes)).clip(0, 1),
                 "ae_linear: codes on the plane of the top-2 code PCs (+-2 sd)")
    rows = model.decoder_basis[:10].reshape(-1, 28, 28, 1)
    pcs = svd.decoder_basis[:10].reshape(-1, 28, 28, 1)
    ae.save_rows(f"{run_dir}/basis.png", [_unit_range(rows), _unit_range(pcs)],
                 ["AE decoder rows", "principal comps"],
                 "ae_linear decoder rows (a rotated basis of the same subspace) vs PCs")


def _unit_range(images):
    low = images.min(axis=(1, 2, 3), keepdims=True)
    return (images - low) / np.ptp(images, axis=(1, 2, 3), keepdims=True)
