"""cae_unpool: conv autoencoder with argmax unpooling; its code as features
for a linear probe, against PCA features of the same size."""

from zoo import backend  # noqa: F401

import json

import numpy as np

import zoo
from zoo.training.recipes import ae_common as ae
from zoo.training.recipes.common import fashion_dataset_card, save_result, seeded_model
from zoo.evaluation.retrieval import plot_embedding_2d
from zoo.io import atomic_write_text

EPOCHS = 5
dataset_card = fashion_dataset_card  # the card's split, for a full run
BATCH_SIZE = 128
PROBE_TRAIN = 20000
# Export parity tolerances (read by `zoo export` and `zoo.export.publish.republish`).
_TIES = ("onnx's ReferenceEvaluator rounds its Conv sums differently at the image border, "
         "so it breaks exact ties of two pooling-window values that TF and onnxruntime "
         "compute identically (seen on real test images: rows of equal pixels)")
ATOL = {
    "encode": {
        "value": 1e-4,
        "reason": "the code is unbounded (|code| up to ~24 on test images); onnxruntime and "
                  "TF/oneDNN sum the 1568-term Dense in different orders, a float32 relative "
                  "error of ~1e-6 of the largest code value (max abs 1.8e-5 to 2.7e-5 over runs)",
        "engines": {"onnx.reference": {
            "atol": 1e-4, "max_index_mismatch": 1e-3,
            "reason": f"{_TIES}: each moves one argmax index (2e-4 of them measured)"}},
    },
    "reconstruct": {
        "value": 1e-5, "reason": None,
        "engines": {"onnx.reference": {
            "atol": 2e-2, "max_index_mismatch": 1e-4,
            "reason": f"{_TIES}: each moves one unpooled value by one pixel, which the "
                      "decoder turns into output errors of up to 3e-3 to 8e-3 measured"}},
    },
}


# The card's notes (copied from result.json by `zoo export`).
NOTES = {
    "graphs": "encode: image -> code, argmax_1, argmax_2; decode: code, argmax_1, argmax_2 -> "
              "image; reconstruct: image -> reconstruction. The decoder unpools at the "
              "encoder's argmax positions, so decode needs the argmax outputs of encode for "
              "the same images besides the code: decode(**encode(images)) equals "
              "reconstruct(images). argmax_K (int64, [N, 28 / 2**K, 28 / 2**K, filters of "
              "block K]) is the per-sample flat index (y * W + x) * C + c of each window "
              "maximum in the input [H, W, C] of pooling stage K (1 = nearest the image). In "
              "Python: encode_images(images, return_dict=True), then decode_codes(**encoded); "
              "unpool_decode(code, images) decodes codes with the positions of given images.",
    "masks_carry_information": "the argmax positions are a side channel from encoder to "
                               "decoder (one of four positions per pooled value): "
                               "masks_only_mse is the test MSE when every code is replaced by "
                               "the mean training code",
    "loss": "MSE per pixel",
    "input_range": "images in [0, 1]; the Python helpers refuse values outside",
    "linear_probe": f"sklearn LogisticRegression (max_iter 1000) on standardised features of "
                    f"{PROBE_TRAIN} training images, accuracy on the test set; PCA features "
                    "of the same size fitted on the training images",
    "figures": "samples.png decodes Gaussian samples of the code with the argmax positions of "
               "fixed test images (one per row); manifold.png is the 2-D PCA of the test codes",
}


def train(run_dir, epochs=None, seed=0, quick=False):
    """Train on 55k Fashion-MNIST images with MSE.

    Args:
        run_dir: the run folder.
        epochs: override `EPOCHS`.
        seed: seeds the split, the shuffling and the weights.
        quick: 2,000 images, 1 epoch, tiny widths.
    """
    data = ae.fashion_data(seed, quick)
    epochs = epochs or (1 if quick else EPOCHS)
    overrides = dict(zoo.info("cae_unpool").tiny) if quick else {}
    model = seeded_model("cae_unpool", seed, **overrides)
    run = ae.fit_autoencoder(model, data["fit"][0], data["val"][0], epochs=epochs,
                             batch_size=BATCH_SIZE, run_dir=run_dir, seed=seed,
                             config={"model": "cae_unpool", "quick": quick,
                                     "batch_size": BATCH_SIZE, **overrides})
    metrics = evaluate(model, limit=1000 if quick else None)
    figures(model, data, run_dir)
    result = save_result(
        run_dir, model, metrics=metrics, seconds=run.seconds, epochs=epochs, seed=seed,
        dataset=fashion_dataset_card(seed, quick),
        notes=NOTES,
        figures=["reconstructions.png", "samples.png", "manifold.png"],
    )
    result["atol"] = ATOL
    atomic_write_text(f"{run_dir}/result.json", json.dumps(result, indent=2))
    return result


def linear_probe(train_x, train_y, test_x, test_y):
    """Test accuracy of a logistic regression on standardised features."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    probe.fit(train_x, train_y)
    return float(probe.score(test_x, test_y))


def evaluate(model, limit=None):
    """Test MSE vs PCA of the same size, masks-only MSE, linear-probe accuracy.

    Args:
        model: a trained `UnpoolingAutoencoder`.
        limit: evaluate on the first `limit` test images only.
    """
    data = ae.fashion_data(quick=limit is not None)
    (x_fit, y_fit), (x, y) = data["fit"], data["test"]
    x, y = x[:limit], y[:limit]
    k = model.code_size
    test_mse, pca, mean, basis = ae.compare_with_pca(model, x_fit, x)
    fit_codes = model.encode_images(x_fit[:PROBE_TRAIN])
    mean_code = np.repeat(fit_codes.mean(0, keepdims=True), len(x), axis=0)
    masks_only = ae.mse(x, model.unpool_decode(mean_code, x))
    probe = linear_probe(fit_codes, y_fit[:PROBE_TRAIN], model.encode_images(x), y)
    pca_probe = linear_probe(ae.pca_codes(x_fit[:PROBE_TRAIN], mean, basis), y_fit[:PROBE_TRAIN],
                             ae.pca_codes(x, mean, basis), y)
    return {"test": {"mse": round(test_mse, 5), f"pca{k}_mse": round(pca, 5),
                     "mse_ratio_to_pca": round(test_mse / pca, 4),
                     "masks_only_mse": round(masks_only, 5),
                     "linear_probe_accuracy": round(probe, 4),
                     f"pca{k}_linear_probe_accuracy": round(pca_probe, 4), "n": int(len(y))}}


def figures(model, data, run_dir):
    """reconstructions.png, samples.png (random codes + real masks), manifold.png."""
    x, y = data["test"][0][:10], data["test"][1]
    k = model.code_size
    mean, basis = ae.pca_fit(data["fit"][0], k)
    pca_rec = (ae.pca_codes(x, mean, basis) @ basis + mean).reshape(x.shape).clip(0, 1)
    codes = model.encode_images(data["fit"][0][:10000])
    mean_code = np.repeat(codes.mean(0, keepdims=True), len(x), axis=0)
    ae.save_rows(f"{run_dir}/reconstructions.png",
                 [x, model.reconstruct_images(x), pca_rec, model.unpool_decode(mean_code, x)],
                 ["test", f"CAE k={k}", f"PCA {k}", "masks only"],
                 "cae_unpool reconstructions; 'masks only' = mean code + the image's masks")
    rows = data["test"][0][:10]
    samples = ae.gaussian_code_samples(codes, 100, seed=0)
    images = np.repeat(rows, 10, axis=0)  # row r uses the masks of test image r
    ae.save_grid(f"{run_dir}/samples.png", model.unpool_decode(samples, images),
                 "cae_unpool: Gaussian code samples decoded with the masks of one test image per row")
    test_codes = model.encode_images(data["test"][0][:2000])
    plot_embedding_2d(test_codes, y[:2000], f"{run_dir}/manifold.png",
                      title="cae_unpool codes (2-D PCA), test images")
