"""Autoencoders and the VAE: closed forms and bounds against NumPy, bad input."""

from zoo import backend  # noqa: F401

import keras
import numpy as np
import pytest
from scipy.special import logsumexp

import zoo
from zoo.training.runner import TrainingDivergedError, array_epochs, fit
from zoo.models.autoencoders import LinearAutoencoder, PixelMean, from_svd
from zoo.models.vae import VAE, BernoulliNLL, KLDivergence, bernoulli_nll, build_vae


def _images(n, shape=(6, 5, 1), seed=0):
    return np.random.default_rng(seed).random((n, *shape)).astype(np.float32)


def _tiny_vae(seed=0):
    keras.utils.set_random_seed(seed)
    model = VAE(image_shape=(4, 4, 1), latent_dim=2, widths=(3,), seed=seed)
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(0, 0.7, w.shape).astype(np.float32) for w in model.get_weights()])
    return model


# --- linear autoencoder = PCA ---------------------------------------------------


def test_from_svd_reconstruction_is_the_rank_k_projection():
    """x_hat = mean + (x - mean) V_k^T V_k with V from numpy.linalg.svd."""
    x = _images(40)
    flat = x.reshape(40, -1).astype(np.float64)
    mean = flat.mean(0)
    _, _, vt = np.linalg.svd(flat - mean, full_matrices=False)
    expected = mean + (flat - mean) @ vt[:3].T @ vt[:3]
    model = from_svd(x, 3)
    got = np.asarray(model(x)).reshape(40, -1)
    np.testing.assert_allclose(got, expected, atol=1e-5)
    # The code is the PCA score (up to nothing: same basis, same sign).
    np.testing.assert_allclose(model.encode_images(x), (flat - mean) @ vt[:3].T, atol=1e-5)


def test_from_svd_refuses_a_bad_k():
    with pytest.raises(ValueError, match="k must be in"):
        from_svd(_images(5), 0)


def test_from_svd_refuses_uint8_images_like_encode_images():
    """A [0, 255] input built a wrong model (MSE 17.1 where 0.0148 is right)."""
    with pytest.raises(ValueError, match=r"scale uint8 images by 1/255.*max=25[0-9]"):
        from_svd((_images(10) * 255).astype(np.uint8), 2)
    with pytest.raises(ValueError, match="x must be images"):
        from_svd(np.zeros(10), 2)


def test_pixel_mean_round_trip_and_numerics():
    layer = PixelMean(sign=-1, name="center")
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    layer.build(x.shape)
    layer.set_mean([1.0, 2.0, 3.0])
    np.testing.assert_allclose(layer(x), x - [1.0, 2.0, 3.0])
    again = PixelMean.from_config(layer.get_config())
    assert again.get_config() == layer.get_config()
    with pytest.raises(ValueError, match="sign"):
        PixelMean(sign=2)


def test_linear_ae_keeps_its_mean_through_a_keras_file(tmp_path):
    model = from_svd(_images(30), 2)
    model.save(tmp_path / "m.keras")
    again = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    assert isinstance(again, LinearAutoencoder)
    x = _images(4, seed=1)
    np.testing.assert_allclose(again(x), model(x), atol=1e-6)


# --- VAE: ELBO, IWAE, sampling ------------------------------------------------------


def _np_forward(model, x, eps):
    """The tiny VAE by hand: dense layers from the weights, Bernoulli logits."""
    enc, dec = model.get_layer("encode"), model.get_layer("decode")

    def dense(layer, h, relu):
        out = h @ np.asarray(layer.kernel, np.float64) + np.asarray(layer.bias, np.float64)
        return np.maximum(out, 0.0) if relu else out

    flat = x.reshape(len(x), -1).astype(np.float64)
    h = dense(enc.get_layer("enc_dense0"), flat, True)
    mean, log_var = dense(enc.get_layer("mean"), h, False), dense(enc.get_layer("log_var"), h, False)
    z = mean + np.exp(0.5 * log_var) * eps  # [k, N, d]
    logits = dense(dec.get_layer("logits"), dense(dec.get_layer("dec_dense0"), z, True), False)
    log_px = np.sum(flat * logits - np.log1p(np.exp(logits)), axis=-1)
    kl = 0.5 * np.sum(mean ** 2 + np.exp(log_var) - 1.0 - log_var, axis=-1)
    log_pz = np.sum(-0.5 * z ** 2 - 0.5 * np.log(2 * np.pi), axis=-1)
    log_qz = np.sum(-0.5 * eps ** 2 - 0.5 * log_var - 0.5 * np.log(2 * np.pi), axis=-1)
    return log_px, kl, log_pz - log_qz


def test_elbo_and_iwae_match_a_hand_computation():
    """elbo = mean_j log p(x|z_j) - KL; iwae = logsumexp_j(log w_j) - log k."""
    model = _tiny_vae()
    x = _images(5, (4, 4, 1), seed=3)
    eps = np.random.default_rng(4).standard_normal((3, 5, 2))
    log_px, kl, log_prior_ratio = _np_forward(model, x, eps)
    got = model.log_likelihood(x, k=3, eps=eps)
    np.testing.assert_allclose(got["elbo"], log_px.mean(0) - kl, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(got["iwae"], logsumexp(log_px + log_prior_ratio, axis=0) - np.log(3),
                               rtol=1e-5, atol=1e-4)


def test_iwae_bound_is_above_the_elbo_on_average():
    model = _tiny_vae(seed=1)
    x = _images(64, (4, 4, 1), seed=5)
    bounds = model.log_likelihood(x, k=200, seed=0)
    assert bounds["iwae"].mean() >= bounds["elbo"].mean()
    # More samples never loosen the bound on average.
    assert bounds["iwae"].mean() >= model.log_likelihood(x, k=5, seed=0)["iwae"].mean()


@pytest.mark.parametrize("k", [0, -3, 1.5, True])
def test_log_likelihood_refuses_k_below_one(k):
    with pytest.raises(ValueError, match="k .*must be an int >= 1"):
        _tiny_vae().log_likelihood(_images(2, (4, 4, 1)), k=k)


def test_the_training_loss_is_bernoulli_nll_plus_kl():
    """One batch: the KL layer's add_loss is the batch-mean analytic KL, and
    the compile loss sums the Bernoulli NLL over pixels."""
    model = _tiny_vae()
    x = _images(6, (4, 4, 1), seed=2)
    model(x, training=True)
    mean, log_var = (np.asarray(a, np.float64) for a in model.get_layer("encode")(x))
    kl = 0.5 * np.sum(mean ** 2 + np.exp(log_var) - 1.0 - log_var, axis=-1)
    assert len(model.losses) == 1
    np.testing.assert_allclose(float(model.losses[0]), kl.mean(), rtol=1e-5)
    model(x, training=False)
    assert not model.losses  # inference graphs carry no loss
    p = np.clip(_images(6, (4, 4, 1), seed=9), 1e-7, 1 - 1e-7)
    expected = -np.sum(x * np.log(p) + (1 - x) * np.log(1 - p), axis=(1, 2, 3))
    np.testing.assert_allclose(bernoulli_nll(x, p), expected, rtol=1e-5)
    np.testing.assert_allclose(float(BernoulliNLL()(x, p)), expected.mean(), rtol=1e-5)


def test_kl_layer_and_loss_serialize():
    layer = KLDivergence(weight=0.5, name="kl")
    assert KLDivergence.from_config(layer.get_config()).weight == 0.5
    loss = BernoulliNLL()
    assert keras.losses.deserialize(keras.losses.serialize(loss)).get_config() == loss.get_config()


def test_generate_shapes_range_and_seed():
    model = zoo.create("vae", **zoo.info("vae").tiny)
    a, b = model.generate(5, seed=3), model.generate(5, seed=3)
    assert a.shape == (5, 28, 28, 1) and a.min() >= 0 and a.max() <= 1
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, model.generate(5, seed=4))
    with pytest.raises(ValueError, match="n must be a positive int"):
        model.generate(0)


def test_reconstruct_is_deterministic():
    model = build_vae(latent_dim=2, widths=(8,), seed=0)
    x = _images(3, (28, 28, 1))
    np.testing.assert_array_equal(model.reconstruct_images(x), model.reconstruct_images(x))


# --- bad input ------------------------------------------------------------------


@pytest.mark.parametrize("name", ["ae_dense", "ae_linear", "cae_unpool", "vae"])
def test_decode_refuses_a_wrong_code_size(name):
    model = zoo.create(name, **zoo.info(name).tiny)
    with pytest.raises(ValueError, match=r"code must have shape \(N, \d+\).*Received: code.shape"):
        model.decode_codes(np.zeros((2, model.code_size + 1)))


def test_images_outside_unit_range_are_refused():
    model = zoo.create("ae_dense", **zoo.info("ae_dense").tiny)
    with pytest.raises(ValueError, match=r"\[0, 1\].*Received: min="):
        model.encode_images(_images(2, (28, 28, 1)) * 255)
    with pytest.raises(ValueError, match="shape"):
        model.reconstruct_images(np.zeros((2, 27, 28, 1)))


def test_cae_unpool_decode_of_encode_is_reconstruct():
    """encode outputs the code and one int64 argmax per pooling stage;
    decode takes them back and reproduces reconstruct exactly."""
    spec = zoo.info("cae_unpool")
    assert spec.graphs == ("encode", "decode", "reconstruct")
    model = zoo.create("cae_unpool", **spec.tiny)  # widths (4, 8), code 4
    x = _images(3, (28, 28, 1))
    encoded = model.encode_images(x, return_dict=True)
    assert {k: (v.shape, v.dtype) for k, v in encoded.items()} == {
        "code": ((3, 4), np.float32), "argmax_1": ((3, 14, 14, 4), np.int64),
        "argmax_2": ((3, 7, 7, 8), np.int64)}
    np.testing.assert_array_equal(model.encode_images(x), encoded["code"])
    np.testing.assert_array_equal(model.decode_codes(**encoded), model.reconstruct_images(x))
    argmax = {k: v for k, v in encoded.items() if k != "code"}
    np.testing.assert_array_equal(model.unpool_decode(encoded["code"], x),
                                  model.decode_codes(encoded["code"], **argmax))
    # argmax_1 indexes the 28x28x4 input of the first pool: (y * 28 + x) * 4 + c,
    # inside its own 2x2 window and channel.
    index = encoded["argmax_1"]
    y, col, c = index // (28 * 4), (index // 4) % 28, index % 4
    rows, cols = np.arange(14)[:, None, None], np.arange(14)[None, :, None]
    assert np.all(y // 2 == rows) and np.all(col // 2 == cols) and np.all(c == np.arange(4))
    # One set of weights; the conv trunk is not duplicated for the masks.
    assert [layer.name for layer in model.layers] == ["image", "encode", "decode"]
    assert len({id(w) for w in model.weights}) == len(model.weights)


def test_cae_unpool_decode_names_missing_or_bad_argmax():
    model = zoo.create("cae_unpool", **zoo.info("cae_unpool").tiny)
    encoded = model.encode_images(_images(2, (28, 28, 1)), return_dict=True)
    code, argmax_1, argmax_2 = encoded["code"], encoded["argmax_1"], encoded["argmax_2"]
    with pytest.raises(ValueError, match=r"'argmax_1', 'argmax_2'.*return_dict=True.*"
                                         r"Received: inputs=\['code', 'argmax_1'\]"):
        model.decode_codes(code, argmax_1=argmax_1)
    with pytest.raises(ValueError, match=r"argmax_2 must be int64 shaped \(2, 7, 7, 8\).*"
                                         r"Received: argmax_2.shape=\(1, 7, 7, 8\)"):
        model.decode_codes(code, argmax_1=argmax_1, argmax_2=argmax_2[:1])
    with pytest.raises(ValueError, match="argmax_1 must be int64.*dtype=float32"):
        model.decode_codes(code, argmax_1=argmax_1.astype(np.float32), argmax_2=argmax_2)
    with pytest.raises(ValueError, match=r"takes the inputs \['code'\]"):
        zoo.create("ae_dense", **zoo.info("ae_dense").tiny).decode_codes(code, argmax_1=argmax_1)


def test_nan_in_a_training_batch_stops_training(tmp_path):
    model = zoo.create("ae_dense", **zoo.info("ae_dense").tiny)
    x = _images(16, (28, 28, 1))
    x[5, 3, 3, 0] = np.nan
    with pytest.raises(TrainingDivergedError, match="NaN|nan"):
        fit(model, array_epochs(x, x, batch_size=8, seed=0), epochs=1, run_dir=tmp_path,
            verbose=0)
