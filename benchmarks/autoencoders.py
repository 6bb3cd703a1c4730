"""Autoencoder benchmark: the published cards against PCA and the baselines.

Runs (all on 2 CPU cores, Fashion-MNIST test set unless stated):
- PCA-k reconstruction MSE (k = each model's code size; read from the cards);
- the keras.io VAE recipe (conv 32/64 stride 2, Dense 16, latent 2),
  re-implemented here and trained for the same wall-clock seconds as the
  published `vae`, scored by the same ELBO / IWAE code;
- likelihood anomaly scoring: the `vae` recipe trained without one class,
  AUROC of -ELBO for that class's test images vs the other classes;
- ORL faces (5/5 split, 56x46): cosine Recall@1 of a small dense AE's codes vs
  eigenfaces (PCA) of the same size, both fitted on the 200 training faces.

`python -m benchmarks.autoencoders` prints one Markdown table. Baseline
results are cached in runs/bench_autoencoders/results.json; `--fresh [PART
...]` re-runs them, `--only PART ...` computes only some.
"""

from zoo import backend  # noqa: F401

import argparse
import json
import time
from pathlib import Path

import keras
import numpy as np
from keras import layers

import zoo
from benchmarks.common import card, markdown
from zoo.training.recipes import ae_common as ae
from zoo.io import atomic_write_text
from zoo.layers import Sampling
from zoo.models.vae import BernoulliNLL, KLDivergence, likelihood_bounds

RUN_DIR = Path(__file__).resolve().parents[1] / "runs" / "bench_autoencoders"
ANOMALY_CLASSES = tuple(range(10))
ANOMALY_EPOCHS = 8
ORL_SIZE = (56, 46)
ORL_CODE = 32
ORL_EPOCHS = 300
# IWAE-1000 through the keras.io conv decoder costs ~22M MACs per sample:
# both VAEs are compared on the first 200 test images.
BASELINE_IWAE_IMAGES = 200


# --- the keras.io VAE recipe ------------------------------------------------


def keras_io_vae(latent_dim=2):
    """The keras.io "Variational AutoEncoder" example (fchollet): conv 32/64
    stride 2 + Dense 16 encoder, mirrored Conv2DTranspose decoder, latent 2,
    Bernoulli (binary cross-entropy summed over pixels) + KL loss.

    Returns:
        (model, encoder, logits_decoder), the model compiled with Adam.
    """
    image = keras.Input((28, 28, 1), name="image")
    x = layers.Conv2D(32, 3, 2, "same", activation="relu")(image)
    x = layers.Conv2D(64, 3, 2, "same", activation="relu")(x)
    x = layers.Dense(16, activation="relu")(layers.Flatten()(x))
    encoder = keras.Model(image, [layers.Dense(latent_dim)(x), layers.Dense(latent_dim)(x)],
                          name="encoder")
    z_in = keras.Input((latent_dim,), name="code")
    y = layers.Reshape((7, 7, 64))(layers.Dense(7 * 7 * 64, activation="relu")(z_in))
    y = layers.Conv2DTranspose(64, 3, 2, "same", activation="relu")(y)
    y = layers.Conv2DTranspose(32, 3, 2, "same", activation="relu")(y)
    logits = layers.Conv2DTranspose(1, 3, padding="same")(y)
    logits_decoder = keras.Model(z_in, logits, name="logits_decoder")
    outer = keras.Input((28, 28, 1), name="image")
    z = Sampling(seed=0)(KLDivergence()(encoder(outer)))
    model = keras.Model(outer, layers.Activation("sigmoid")(logits_decoder(z)))
    model.compile(optimizer=keras.optimizers.Adam(), loss=BernoulliNLL())
    return model, encoder, logits_decoder


class _StopAfter(keras.callbacks.Callback):
    """Stop training after `seconds` of wall-clock time (checked per batch)."""

    def __init__(self, seconds):
        super().__init__()
        self.seconds, self.start, self.batches = float(seconds), None, 0

    def on_train_begin(self, logs=None):
        self.start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.batches += 1
        if time.perf_counter() - self.start >= self.seconds:
            self.model.stop_training = True


def vae_baseline(seconds, iwae_images, iwae_k, seed=0):
    """Train the keras.io VAE for `seconds`; ELBO (test) and IWAE (first images)."""
    data = ae.fashion_data(seed)
    keras.utils.set_random_seed(seed)
    model, encoder, logits_decoder = keras_io_vae()
    stop = _StopAfter(seconds)
    start = time.perf_counter()
    model.fit(data["fit"][0], data["fit"][0], batch_size=128, epochs=1000, callbacks=[stop],
              verbose=0, shuffle=True)
    x = data["test"][0]
    elbo = likelihood_bounds(encoder, logits_decoder, x, k=1, seed=1)["elbo"]
    bounds = likelihood_bounds(encoder, logits_decoder, x[:iwae_images], k=iwae_k, seed=2)
    return {"elbo": float(elbo.mean()), "iwae": float(bounds["iwae"].mean()),
            "train_seconds": round(time.perf_counter() - start, 1),
            "images_seen": stop.batches * 128}


def published_vae_iwae(images, k, seed=2):
    """IWAE-k of the published (or trained) `vae` on the first test images."""
    from zoo.training.recipes.common import load_run_model

    model = zoo.load("vae") if zoo.info("vae").pretrained else load_run_model(RUN_DIR.parent / "vae")
    x = ae.fashion_data()["test"][0][:images]
    return float(model.log_likelihood(x, k=k, seed=seed)["iwae"].mean())


# --- likelihood anomaly scoring ---------------------------------------------


def anomaly_auroc(classes=ANOMALY_CLASSES, epochs=ANOMALY_EPOCHS, seed=0):
    """{class: AUROC}: the vae recipe trained without `class`; score -ELBO."""
    from sklearn.metrics import roc_auc_score

    from zoo.training.recipes import vae as vae_recipe

    x, y = ae.fashion_data(seed)["test"]
    result = {}
    for c in classes:
        model, _ = vae_recipe.train(RUN_DIR / f"vae_without_{c}", epochs=epochs, seed=seed,
                                    exclude_class=c, measure=False)
        scores = vae_recipe.anomaly_scores(model, x, k=1, seed=0)
        result[int(c)] = float(roc_auc_score((y == c).astype(int), scores))
    return result


# --- ORL faces: AE codes vs eigenfaces ----------------------------------------


def orl_retrieval(seed=0):
    """Cosine Recall@1 on the 200 ORL test faces: AE codes vs eigenfaces."""
    from zoo.training.datasets import load_orl_faces, orl_five_five_split, resize, to_float
    from zoo.training.runner import array_epochs, fit
    from zoo.evaluation.retrieval import retrieval_report
    from zoo.models.autoencoders import DenseAutoencoder

    images, labels = load_orl_faces()
    train_idx, test_idx = orl_five_five_split(seed)
    x = to_float(resize(images, ORL_SIZE))
    x_train, x_test, y_test = x[train_idx], x[test_idx], labels[test_idx]
    keras.utils.set_random_seed(seed)
    model = DenseAutoencoder(x.shape[1:], ORL_CODE, (256,))
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
    run = fit(model, array_epochs(x_train, x_train, 20, seed=seed), epochs=ORL_EPOCHS,
              run_dir=RUN_DIR / "orl_ae", seed=seed, verbose=0)
    mean, basis = ae.pca_fit(x_train, ORL_CODE)
    ae_codes, pca = model.encode_images(x_test), ae.pca_codes(x_test, mean, basis)
    return {"ae_recall@1": retrieval_report(ae_codes, y_test, ks=(1,))["recall@1"],
            "pca_recall@1": retrieval_report(pca, y_test, ks=(1,))["recall@1"],
            "ae_mse": ae.mse(x_test, model.reconstruct_images(x_test)),
            "pca_mse": ae.pca_mse(x_test, mean, basis), "train_seconds": run.seconds}


# --- the table ----------------------------------------------------------------


PARTS = ("vae", "anomaly", "orl")


def baselines(fresh=(), only=PARTS):
    """Run (or read the cached) baselines.

    Args:
        fresh: parts to re-run even when cached ("vae", "anomaly", "orl").
        only: parts to compute when missing; the others are left as cached.
            The "vae" part (keras.io baseline + the published vae's IWAE on
            the same images) is also re-run when the vae card's training
            seconds changed.
    """
    path = RUN_DIR / "results.json"
    results = json.loads(path.read_text()) if path.exists() else {}
    before = dict(results)
    seconds = _seconds("vae")
    if "vae" in only and ("vae" in fresh or "keras_io_vae" not in results
                          or results.get("vae_seconds") != seconds):
        results.update({"vae_seconds": seconds,
                        "keras_io_vae": vae_baseline(seconds or 60, BASELINE_IWAE_IMAGES, 1000),
                        "vae_iwae_subset": published_vae_iwae(BASELINE_IWAE_IMAGES, 1000)})
    if "anomaly" in only and ("anomaly" in fresh or "anomaly_auroc" not in results):
        results["anomaly_auroc"] = anomaly_auroc()
    if "orl" in only and ("orl" in fresh or "orl" not in results):
        results["orl"] = orl_retrieval()
    # Merge into the file as it is now: another run may have updated other parts.
    latest = json.loads(path.read_text()) if path.exists() else {}
    computed = {k: v for k, v in results.items() if k not in before or before[k] != v}
    results = {**latest, **computed}
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(results, indent=2))
    return results


def _source(name):
    """The published card, else the run's result.json (marked unpublished)."""
    published = card(name)
    if published:
        return published, True
    path = RUN_DIR.parent / name / "result.json"
    return (json.loads(path.read_text()) if path.exists() else {}), False


def _metrics(name):
    return _source(name)[0].get("metrics", {}).get("test", {})


def _seconds(name):
    src = _source(name)[0]
    return src.get("training", {}).get("seconds", src.get("seconds"))


def _fmt(v, digits=4):
    return "-" if v is None else (f"{v:.{digits}f}" if isinstance(v, float) else str(v))


def table(results):
    """The Markdown table: figure, target, measured, verdict."""
    d, lin, cae, vae = (_metrics(n) for n in ("ae_dense", "ae_linear", "cae_unpool", "vae"))
    rows = []

    def row(figure, target, measured, ok):
        rows.append((figure, target, measured, "-" if ok is None else ("met" if ok else "MISSED")))

    def ratio_row(name, m, limit, k=32):
        r = m.get("mse_ratio_to_pca")
        row(f"{name} test MSE (k={k})", f"<= {limit:.2f} x PCA-{k}",
            f"{_fmt(m.get('mse'), 5)} vs PCA {_fmt(m.get(f'pca{k}_mse'), 5)} (ratio {_fmt(r)})",
            None if r is None else r <= limit)

    ratio_row("ae_dense", d, 0.80)
    ratio_row("cae_unpool", cae, 0.60)
    r = lin.get("mse_ratio_to_pca")
    row("ae_linear test MSE (k=32)", "within 1% of PCA-32",
        f"{_fmt(lin.get('mse'), 6)} vs PCA {_fmt(lin.get('pca32_mse'), 6)} (ratio {_fmt(r, 5)})",
        None if r is None else abs(r - 1) <= 0.01)
    row("ae_linear largest principal angle to the PCA-32 subspace", "reported",
        f"{_fmt(lin.get('max_principal_angle_deg'), 2)} deg (median "
        f"{_fmt(lin.get('median_principal_angle_deg'), 2)} deg; top-31 PCs within "
        f"{_fmt(lin.get('max_angle_top31_pcs_deg'), 2)} deg; lambda32 / lambda33 = "
        f"{_fmt(lin.get('eigenvalue_ratio_32_33'))})", None)
    base = results.get("keras_io_vae", {})
    row("vae test ELBO, nats/image (10,000 images)",
        "> keras.io VAE (latent 2) trained for the same time",
        f"{_fmt(vae.get('elbo'), 2)} vs {_fmt(base.get('elbo'), 2)} "
        f"({_fmt(base.get('train_seconds'), 0)} s, {base.get('images_seen', '-')} images seen)",
        None if not base else vae.get("elbo", -np.inf) > base["elbo"])
    ours = results.get("vae_iwae_subset")
    row(f"vae IWAE k=1000, nats/image (first {BASELINE_IWAE_IMAGES} test images; card: "
        f"{_fmt(vae.get('iwae_k1000'), 2)} on {vae.get('iwae_images', '-')})",
        "> keras.io VAE", f"{_fmt(ours, 2)} vs {_fmt(base.get('iwae'), 2)}",
        None if ours is None or not base else ours > base["iwae"])
    auroc = {int(k): v for k, v in results.get("anomaly_auroc", {}).items()}
    if auroc:
        met = [c for c, v in auroc.items() if v >= 0.85]
        row("vae anomaly AUROC, -ELBO, trained without class c (c=0..9)", ">= 0.85",
            ", ".join(f"{c}: {v:.3f}" for c, v in sorted(auroc.items()))
            + f"; mean {np.mean(list(auroc.values())):.3f}; {len(met)}/{len(auroc)} classes >= 0.85",
            len(met) == len(auroc))
    row("Retrieval Recall@1, cosine, Fashion-MNIST test: ae_dense codes vs PCA-32", "AE > PCA",
        f"{_fmt(d.get('recall@1'))} vs {_fmt(d.get('pca32_recall@1'))}",
        None if "recall@1" not in d else d["recall@1"] > d["pca32_recall@1"])
    orl = results.get("orl", {})
    row(f"Retrieval Recall@1, cosine, ORL 5/5 test faces ({ORL_SIZE[0]}x{ORL_SIZE[1]}): "
        f"AE-{ORL_CODE} vs eigenfaces-{ORL_CODE}", "AE > PCA",
        f"{_fmt(orl.get('ae_recall@1'))} vs {_fmt(orl.get('pca_recall@1'))} "
        f"(MSE {_fmt(orl.get('ae_mse'), 5)} vs {_fmt(orl.get('pca_mse'), 5)})",
        None if not orl else orl["ae_recall@1"] > orl["pca_recall@1"])
    row("2-D trustworthiness (k=10), first 2,000 test images: AE 2-D vs PCA", "AE >= PCA",
        f"{_fmt(d.get('trustworthiness_ae2d'))} vs {_fmt(d.get('trustworthiness_pca2'))}",
        None if "trustworthiness_ae2d" not in d else
        d["trustworthiness_ae2d"] >= d["trustworthiness_pca2"])
    row("2-D trustworthiness: Isomap, LLE", "reported",
        f"{_fmt(d.get('trustworthiness_isomap'))}, {_fmt(d.get('trustworthiness_lle'))}", None)
    row("cae_unpool linear probe accuracy vs PCA-32 features", "reported",
        f"{_fmt(cae.get('linear_probe_accuracy'))} vs {_fmt(cae.get('pca32_linear_probe_accuracy'))}",
        None)
    unpublished = [n for n in ("ae_dense", "ae_linear", "cae_unpool", "vae") if not _source(n)[1]]
    note = f"\n\nRead from run folders (not published): {', '.join(unpublished)}" if unpublished else ""
    return markdown(rows, ("figure", "target", "measured", "verdict")) + note


def run(from_cards=False):
    """The section for `python -m benchmarks`: cached baselines when `from_cards`."""
    path = RUN_DIR / "results.json"
    if from_cards and path.exists():
        return "## Autoencoders\n\n" + table(json.loads(path.read_text()))
    return "## Autoencoders\n\n" + table(baselines())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fresh", nargs="*", choices=PARTS, default=None,
                        help="re-run these baselines (all when given without names)")
    parser.add_argument("--only", nargs="+", choices=PARTS, default=list(PARTS),
                        help="compute only these baselines (others as cached)")
    args = parser.parse_args()
    fresh = () if args.fresh is None else (args.fresh or PARTS)
    print(table(baselines(fresh=fresh, only=args.only)))


if __name__ == "__main__":
    main()
