"""ae_dense: the deep MLP autoencoder (k=32), plus its 2-D bottleneck variant
for the visualisation against PCA, Isomap and LLE."""

from zoo import backend  # noqa: F401

import numpy as np

import zoo
from zoo.training.recipes import ae_common as ae
from zoo.training.recipes.common import fashion_dataset_card, save_result, seeded_model
from zoo.evaluation import _plot
from zoo.evaluation.retrieval import retrieval_report

EPOCHS = 15
dataset_card = fashion_dataset_card  # the card's split, for a full run
BATCH_SIZE = 128
VIS_IMAGES = 2000
NEIGHBOURS = 10


def _train_one(run_dir, data, epochs, seed, overrides, quick):
    model = seeded_model("ae_dense", seed, **overrides)
    run = ae.fit_autoencoder(model, data["fit"][0], data["val"][0], epochs=epochs,
                             batch_size=BATCH_SIZE, run_dir=run_dir, seed=seed,
                             config={"model": "ae_dense", "quick": quick,
                                     "batch_size": BATCH_SIZE, **overrides})
    return model, run


def train(run_dir, epochs=None, seed=0, quick=False):
    """Train k=32 (published) and k=2 (visualisation, in run_dir/code2).

    Args:
        run_dir: the run folder.
        epochs: override `EPOCHS`.
        seed: seeds the split, the shuffling and the weights.
        quick: 2,000 images, 1 epoch, tiny widths.
    """
    data = ae.fashion_data(seed, quick)
    epochs = epochs or (1 if quick else EPOCHS)
    tiny = dict(zoo.info("ae_dense").tiny) if quick else {}
    model, run = _train_one(run_dir, data, epochs, seed, tiny, quick)
    model_2d, run_2d = train_2d(f"{run_dir}/code2", data, epochs, seed, quick)
    metrics = evaluate(model, limit=1000 if quick else None)
    metrics["test"].update(visualise_2d(model_2d, data, f"{run_dir}/embedding_2d.png", quick))
    figures(model, model_2d, data, run_dir)
    return save_result(
        run_dir, model, metrics=metrics, seconds=run.seconds + run_2d.seconds, epochs=epochs,
        seed=seed, dataset=fashion_dataset_card(seed, quick),
        notes={"loss": "MSE per pixel",
               "input_range": "images in [0, 1]; the Python helpers refuse values outside, "
                              "the ONNX runtime too",
               "code_2d": f"a code_size=2 model trained by the same recipe ({epochs} epochs, "
                          f"{run_2d.seconds:.0f} s) gives the 2-D visualisation "
                          "(embedding_2d.png, manifold_2d.png); it is not published",
               "trustworthiness": f"sklearn.manifold.trustworthiness, {NEIGHBOURS} neighbours, "
                                  f"first {VIS_IMAGES} test images; PCA fitted on the training "
                                  "images, Isomap / LLE fitted on the subset",
               "retrieval": "cosine, leave-one-out over the test set, codes vs PCA codes of "
                            "the same size (PCA fitted on the training images)",
               "samples": "decoded from a Gaussian fitted to the training codes"},
        figures=["reconstructions.png", "samples.png", "manifold.png", "manifold_2d.png",
                 "embedding_2d.png"],
    )


def train_2d(run_dir, data, epochs, seed=0, quick=False):
    """The same recipe with `code_size=2` (the 2-D bottleneck variant)."""
    overrides = {**(dict(zoo.info("ae_dense").tiny) if quick else {}), "code_size": 2}
    return _train_one(run_dir, data, epochs, seed, overrides, quick)


def evaluate(model, limit=None):
    """Test MSE vs PCA of the same code size, and cosine retrieval of the codes.

    Args:
        model: a trained `DenseAutoencoder`.
        limit: evaluate on the first `limit` test images only.
    """
    data = ae.fashion_data(quick=limit is not None)
    (x_fit, _), (x, y) = data["fit"], data["test"]
    x, y = x[:limit], y[:limit]
    k = model.code_size
    test_mse, pca, mean, basis = ae.compare_with_pca(model, x_fit, x)
    codes = model.encode_images(x)
    ae_r = retrieval_report(codes, y, ks=(1, 10), distance="cosine")
    pca_r = retrieval_report(ae.pca_codes(x, mean, basis), y, ks=(1, 10), distance="cosine")
    return {"test": {"mse": round(test_mse, 5), f"pca{k}_mse": round(pca, 5),
                     "mse_ratio_to_pca": round(test_mse / pca, 4),
                     "recall@1": round(ae_r["recall@1"], 4),
                     f"pca{k}_recall@1": round(pca_r["recall@1"], 4),
                     "map@r": round(ae_r["map@r"], 4), f"pca{k}_map@r": round(pca_r["map@r"], 4),
                     "n": int(len(y))}}


def visualise_2d(model_2d, data, path, quick=False):
    """AE-2D vs PCA, Isomap and LLE on the first test images; trustworthiness (k=10)."""
    from sklearn.manifold import LocallyLinearEmbedding, Isomap, trustworthiness

    n = 300 if quick else VIS_IMAGES
    x, y = data["test"][0][:n], data["test"][1][:n]
    high = ae.flat(x)
    mean, basis = ae.pca_fit(data["fit"][0], 2)
    views = {
        "AE 2-D": model_2d.encode_images(x),
        "PCA": ae.pca_codes(x, mean, basis),
        "Isomap": Isomap(n_neighbors=NEIGHBOURS, n_components=2).fit_transform(high),
        "LLE": LocallyLinearEmbedding(n_neighbors=NEIGHBOURS, n_components=2,
                                      random_state=0).fit_transform(high),
    }
    scores = {name: float(trustworthiness(high, v, n_neighbors=NEIGHBOURS))
              for name, v in views.items()}
    fig, _ = _plot.new_figure((13, 3.6))
    fig.clear()
    for i, (name, v) in enumerate(views.items()):
        ax = fig.add_subplot(1, 4, i + 1)
        ax.scatter(v[:, 0], v[:, 1], c=y, cmap="tab10", s=3, linewidths=0)
        ax.set_title(f"{name}: trustworthiness {scores[name]:.3f}", fontsize=9)
        ax.set_xticks([]), ax.set_yticks([])
    _plot.save_png(fig, path)
    keys = {"AE 2-D": "ae2d", "PCA": "pca2", "Isomap": "isomap", "LLE": "lle"}
    return {f"trustworthiness_{keys[k]}": round(v, 4) for k, v in scores.items()}


def figures(model, model_2d, data, run_dir):
    """reconstructions.png, samples.png, manifold.png (k=32), manifold_2d.png (k=2)."""
    x = data["test"][0][:10]
    mean, basis = ae.pca_fit(data["fit"][0], model.code_size)
    pca_rec = (ae.pca_codes(x, mean, basis) @ basis + mean).reshape(x.shape).clip(0, 1)
    ae.save_rows(f"{run_dir}/reconstructions.png", [x, model.reconstruct_images(x), pca_rec],
                 ["test", f"AE k={model.code_size}", f"PCA {model.code_size}"],
                 "ae_dense reconstructions (test images)")
    codes = model.encode_images(data["fit"][0][:10000])
    ae.save_grid(f"{run_dir}/samples.png",
                 model.decode_codes(ae.gaussian_code_samples(codes, 100, seed=0)),
                 "ae_dense: decoded Gaussian samples of the code")
    ae.save_grid(f"{run_dir}/manifold.png", model.decode_codes(ae.principal_plane_grid(codes)),
                 "ae_dense: codes on the plane of the top-2 code PCs (+-2 sd)")
    codes_2d = model_2d.encode_images(data["fit"][0][:10000])
    lo, hi = np.percentile(codes_2d, 2, axis=0), np.percentile(codes_2d, 98, axis=0)
    a, b = np.meshgrid(np.linspace(lo[0], hi[0], 15), np.linspace(hi[1], lo[1], 15))
    grid = np.stack([a.ravel(), b.ravel()], axis=1).astype(np.float32)
    ae.save_grid(f"{run_dir}/manifold_2d.png", model_2d.decode_codes(grid),
                 "ae_dense code_size=2: decoded 15x15 grid (2nd-98th percentiles)")
