"""Tests of zoo.layers: NumPy references, gradients, serialization, ONNX."""

from zoo import backend  # noqa: F401  (pins the TF backend before Keras)

import keras
import numpy as np
import onnx
import onnxruntime as ort
import pytest
import tensorflow as tf
import tf2onnx

from zoo.layers import MaxPoolingWithArgmax2D, MaxUnpooling2D, Sampling

OPSET = 17
ATOL = 1e-5
# (pool_size, strides): the common 2x2, a 3x3 whose "same" grid is shifted
# by one pixel on 7x7, and non-overlapping windows with gaps.
GEOMETRIES = [(2, None), (3, None), (2, 3)]
SIZES = [(5, 7), (7, 7)]


# --- NumPy references ------------------------------------------------------


def np_windows(length, size, stride, padding):
    """[start, stop) of every window along one axis, clipped to the input.

    TF's rule: "valid" has floor((L - k) / s) + 1 windows starting at 0;
    "same" has ceil(L / s) windows, the grid shifted up by half the padding
    (max((out - 1) * s + k - L, 0) // 2) and padded with -inf.
    """
    if padding == "valid":
        out, before = (length - size) // stride + 1, 0
    else:
        out = -(-length // stride)
        before = max((out - 1) * stride + size - length, 0) // 2
    starts = [i * stride - before for i in range(out)]
    return [(max(a, 0), min(a + size, length)) for a in starts]


def np_pool(x, pool_size, strides, padding):
    """Loops: pooled maxima and a mask with 1 at the first max of each window."""
    strides = strides or pool_size
    n, h, w, c = x.shape
    rows = np_windows(h, pool_size, strides, padding)
    cols = np_windows(w, pool_size, strides, padding)
    pooled = np.zeros((n, len(rows), len(cols), c), x.dtype)
    mask = np.zeros_like(x)
    for b in range(n):
        for i, (r0, r1) in enumerate(rows):
            for j, (c0, c1) in enumerate(cols):
                for ch in range(c):
                    window = x[b, r0:r1, c0:c1, ch]
                    y, z = np.unravel_index(np.argmax(window), window.shape)  # first max
                    pooled[b, i, j, ch] = window[y, z]
                    mask[b, r0 + y, c0 + z, ch] = 1.0
    return pooled, mask


def np_unpool(pooled, mask, pool_size, strides, padding):
    """Loops: each pooled value at its window's masked pixel, zeros elsewhere."""
    strides = strides or pool_size
    n, h, w, c = mask.shape
    rows = np_windows(h, pool_size, strides, padding)
    cols = np_windows(w, pool_size, strides, padding)
    out = np.zeros(mask.shape, pooled.dtype)
    for b in range(n):
        for i, (r0, r1) in enumerate(rows):
            for j, (c0, c1) in enumerate(cols):
                for ch in range(c):
                    window = mask[b, r0:r1, c0:c1, ch]
                    assert window.sum() == 1, "one remembered max per window"
                    y, z = np.argwhere(window)[0]
                    out[b, r0 + y, c0 + z, ch] = pooled[b, i, j, ch]
    return out


def np_gather(values, mask, pool_size, strides, padding):
    """values[window max] for every window: the expected gradient wrt pooled."""
    strides = strides or pool_size
    rows = np_windows(mask.shape[1], pool_size, strides, padding)
    cols = np_windows(mask.shape[2], pool_size, strides, padding)
    out = np.zeros((mask.shape[0], len(rows), len(cols), mask.shape[3]), values.dtype)
    for i, (r0, r1) in enumerate(rows):
        for j, (c0, c1) in enumerate(cols):
            out[:, i, j, :] = (values * mask)[:, r0:r1, c0:c1, :].sum(axis=(1, 2))
    return out


def random_image(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


# --- pooling / unpooling numerics -------------------------------------------


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("pool_size,strides", GEOMETRIES)
def test_pool_unpool_match_numpy(size, padding, pool_size, strides):
    x = random_image((3, *size, 4))
    pooled, mask = MaxPoolingWithArgmax2D(pool_size, strides, padding)(x)
    want_pooled, want_mask = np_pool(x, pool_size, strides, padding)
    np.testing.assert_array_equal(pooled, want_pooled)
    np.testing.assert_array_equal(mask, want_mask)
    np.testing.assert_array_equal(pooled, keras.layers.MaxPooling2D(pool_size, strides, padding)(x))

    unpooled = MaxUnpooling2D(pool_size, strides, padding)([pooled, mask])
    assert unpooled.shape == x.shape
    np.testing.assert_array_equal(unpooled, np_unpool(want_pooled, want_mask, pool_size, strides, padding))
    # Round trip: maxima stay where they were, everything else is zero.
    np.testing.assert_array_equal(unpooled, np.where(want_mask == 1, x, 0))


def np_argmax(mask):
    """Per-sample flat NHWC index (y * W + x) * C + c of every 1 in `mask`,
    window by window: what positions="argmax" returns."""
    n, h, w, c = mask.shape
    flat = np.arange(h * w * c).reshape(h, w, c)
    return [np.sort(flat[mask[b] == 1]) for b in range(n)]


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("pool_size,strides", GEOMETRIES)
def test_argmax_positions_match_the_mask(size, padding, pool_size, strides):
    """positions="argmax" gives int64 indices of the mask's ones, and
    unpooling at them equals unpooling at the mask."""
    x = random_image((3, *size, 4))
    pooled, mask = MaxPoolingWithArgmax2D(pool_size, strides, padding)(x)
    same, argmax = MaxPoolingWithArgmax2D(pool_size, strides, padding, positions="argmax")(x)
    assert argmax.dtype == tf.int64 and argmax.shape == pooled.shape
    np.testing.assert_array_equal(same, pooled)
    for got, want in zip(argmax.numpy(), np_argmax(mask.numpy())):
        np.testing.assert_array_equal(np.sort(got.ravel()), want)
    unpool = MaxUnpooling2D(pool_size, strides, padding, output_size=size)
    np.testing.assert_array_equal(unpool([pooled, argmax]),
                                  MaxUnpooling2D(pool_size, strides, padding)([pooled, mask]))


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("pool_size,strides", GEOMETRIES)
def test_argmax_equals_tf_max_pool_with_argmax_under_ties(size, padding, pool_size, strides):
    """The argmax computed without MaxPool's Indices output (two max pools and
    an Equal) equals `tf.nn.max_pool_with_argmax` index for index, also where a
    window holds several maxima (ReLU zeros, coarse values)."""
    rng = np.random.default_rng(3)
    x = np.maximum(rng.integers(-3, 3, (4, *size, 5)), 0).astype(np.float32)
    pooled, argmax = MaxPoolingWithArgmax2D(pool_size, strides, padding, positions="argmax")(x)
    strides = strides or pool_size
    want_pooled, want = tf.nn.max_pool_with_argmax(
        x, [1, pool_size, pool_size, 1], [1, strides, strides, 1], padding.upper(),
        include_batch_in_index=False)
    np.testing.assert_array_equal(pooled, want_pooled)
    np.testing.assert_array_equal(argmax, want)


def test_argmax_is_int64_in_a_functional_model():
    image = keras.Input((6, 6, 2))
    pooled, argmax = MaxPoolingWithArgmax2D(2, positions="argmax")(image)
    assert argmax.dtype == "int64" and tuple(argmax.shape) == (None, 3, 3, 2)
    out = MaxUnpooling2D(2, output_size=(6, 6))([pooled, argmax])
    assert out.dtype == "float32" and tuple(out.shape) == (None, 6, 6, 2)


def test_unpool_refuses_positions_that_do_not_match_output_size():
    x = random_image((1, 6, 6, 2))
    pooled, mask = MaxPoolingWithArgmax2D(2)(x)
    _, argmax = MaxPoolingWithArgmax2D(2, positions="argmax")(x)
    with pytest.raises(ValueError, match="int64 argmax indices when output_size"):
        MaxUnpooling2D(2)([pooled, tf.zeros((1, 6, 6, 2), tf.int64)])
    with pytest.raises(ValueError, match=r"argmax.shape=\(1, 6, 6, 2\)"):
        MaxUnpooling2D(2, output_size=(6, 6))([pooled, mask])
    with pytest.raises(ValueError, match="Pass the same arguments"):
        MaxUnpooling2D(2, output_size=(8, 8))([pooled, argmax])


def test_valid_padding_drops_the_last_odd_row_and_column():
    x = random_image((2, 7, 7, 1)) + 10.0  # positive, so a kept 0 would be a bug
    pooled, mask = MaxPoolingWithArgmax2D(2)(x)
    unpooled = MaxUnpooling2D(2)([pooled, mask])
    assert pooled.shape == (2, 3, 3, 1) and unpooled.shape == (2, 7, 7, 1)
    assert not np.any(mask[:, 6]) and not np.any(mask[:, :, 6])
    assert not np.any(unpooled[:, 6]) and not np.any(unpooled[:, :, 6])
    assert np.count_nonzero(unpooled) == 2 * 3 * 3


def test_ties_go_to_the_first_max_in_row_major_order():
    x = np.zeros((1, 4, 4, 1), np.float32)
    x[0, 2:4, 2:4, 0] = [[0.0, 5.0], [5.0, 5.0]]  # tie in the bottom-right window
    _, mask = MaxPoolingWithArgmax2D(2)(x)
    want = np.zeros_like(x)
    want[0, [0, 0, 2, 2], [0, 2, 0, 3], 0] = 1.0  # all-zero windows pick their top-left
    np.testing.assert_array_equal(mask, want)


@pytest.mark.parametrize("size,padding,pool_size,strides", [((5, 7), "same", 3, None), ((7, 7), "valid", 2, 3)])
def test_unpool_gradient_is_upstream_at_the_maxima(size, padding, pool_size, strides):
    """d(sum(unpool(p, m) * w)) / dp = w gathered at the remembered maxima."""
    x = random_image((2, *size, 3))
    w = random_image((2, *size, 3), seed=1)
    pooled, mask = MaxPoolingWithArgmax2D(pool_size, strides, padding)(x)
    pooled = tf.Variable(pooled)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(MaxUnpooling2D(pool_size, strides, padding)([pooled, mask]) * w)
    grad = tape.gradient(loss, pooled)
    np.testing.assert_allclose(grad, np_gather(w, mask.numpy(), pool_size, strides, padding), atol=1e-6)


@pytest.mark.parametrize("size,padding,pool_size,strides", [((7, 7), "same", 3, None), ((5, 7), "valid", 2, None)])
def test_pool_gradient_reaches_the_maxima_only(size, padding, pool_size, strides):
    """d(sum(pool(x) * v)) / dx = v unpooled onto the maxima, zero elsewhere."""
    x = tf.Variable(random_image((2, *size, 3)))
    layer = MaxPoolingWithArgmax2D(pool_size, strides, padding)
    with tf.GradientTape() as tape:
        pooled, mask = layer(x)
        v = random_image(pooled.shape, seed=2)
        loss = tf.reduce_sum(pooled * v)
    grad = tape.gradient(loss, x).numpy()
    np.testing.assert_allclose(grad, np_unpool(v, mask.numpy(), pool_size, strides, padding), atol=1e-6)
    assert np.all(grad[mask.numpy() == 0] == 0)


# --- validation ------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"pool_size": 0}, "pool_size=0"),
        ({"pool_size": (2, 2, 2)}, "pool_size=\\(2, 2, 2\\)"),
        ({"pool_size": "2"}, "pool_size='2'"),
        ({"strides": 1}, "strides >= pool_size"),
        ({"padding": "full"}, "padding='full'"),
    ],
)
@pytest.mark.parametrize("cls", [MaxPoolingWithArgmax2D, MaxUnpooling2D])
def test_bad_pool_arguments_are_named(cls, kwargs, match):
    with pytest.raises(ValueError, match=match):
        cls(**kwargs)


def test_bad_positions_and_output_size_are_named():
    with pytest.raises(ValueError, match="positions='index'"):
        MaxPoolingWithArgmax2D(positions="index")
    with pytest.raises(ValueError, match="output_size=0"):
        MaxUnpooling2D(output_size=0)


def test_unpool_refuses_pooled_and_mask_of_different_geometry():
    pooled, mask = MaxPoolingWithArgmax2D(2, padding="same")(random_image((1, 7, 7, 2)))
    with pytest.raises(ValueError, match="Pass the same arguments"):
        MaxUnpooling2D(2, padding="valid")([pooled, mask])
    with pytest.raises(ValueError, match="takes \\[pooled, mask\\]"):
        MaxUnpooling2D(2).compute_output_shape([(1, 4, 4, 2)])


def test_pool_needs_static_spatial_size():
    with pytest.raises(ValueError, match="static height"):
        MaxPoolingWithArgmax2D()(keras.Input((None, None, 3)))


# --- serialization ---------------------------------------------------------


@pytest.mark.parametrize(
    "layer",
    [
        MaxPoolingWithArgmax2D((3, 2), strides=(3, 4), padding="same", name="pool"),
        MaxUnpooling2D(3, padding="same", name="unpool"),
        MaxPoolingWithArgmax2D(2, positions="argmax", name="pool_argmax"),
        MaxUnpooling2D(2, output_size=(7, 5), name="unpool_argmax"),
        Sampling(seed=7, deterministic=True, name="z"),
        Sampling(),
    ],
    ids=["pool", "unpool", "pool_argmax", "unpool_argmax", "sampling", "sampling_default"],
)
def test_layer_serialization_round_trip(layer):
    restored = keras.layers.deserialize(keras.layers.serialize(layer))
    assert type(restored) is type(layer)
    assert restored.get_config() == layer.get_config()


def conv_autoencoder(height, width, padding="same", channels=1):
    """image -> conv -> pool with argmax -> conv -> unpool -> conv."""
    image = keras.Input((height, width, channels), name="image")
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(image)
    pooled, mask = MaxPoolingWithArgmax2D(2, padding=padding, name="pool")(x)
    code = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(pooled)
    x = MaxUnpooling2D(2, padding=padding, name="unpool")([code, mask])
    out = keras.layers.Conv2D(channels, 3, padding="same", name="reconstruction")(x)
    return keras.Model(image, [out, mask], name="argmax_autoencoder")


def test_autoencoder_keras_file_round_trip(tmp_path):
    keras.utils.set_random_seed(0)
    model = conv_autoencoder(7, 7)
    x = random_image((3, 7, 7, 1))
    path = tmp_path / "ae.keras"
    model.save(path)
    restored = keras.saving.load_model(path, safe_mode=True)
    for got, want in zip(restored.predict(x, verbose=0), model.predict(x, verbose=0)):
        np.testing.assert_array_equal(got, want)


def vae_encoder(seed=3):
    image = keras.Input((6, 6, 1), name="image")
    h = keras.layers.Flatten()(image)
    h = keras.layers.Dense(8, activation="relu")(h)
    mean = keras.layers.Dense(2, name="mean")(h)
    log_var = keras.layers.Dense(2, name="log_var")(h)
    return image, mean, log_var, Sampling(seed=seed, name="z")


def test_sampling_model_keras_file_round_trip(tmp_path):
    keras.utils.set_random_seed(0)
    image, mean, log_var, sampling = vae_encoder()
    eps = keras.Input((2,), name="eps")
    model = keras.Model([image, eps], [sampling([mean, log_var]), sampling([mean, log_var, eps])])
    model.save(tmp_path / "vae.keras")
    restored = keras.saving.load_model(tmp_path / "vae.keras", safe_mode=True)
    assert restored.get_layer("z").get_config() == model.get_layer("z").get_config()
    inputs = [random_image((4, 6, 6, 1)), random_image((4, 2), seed=1)]
    for got, want in zip(restored(inputs, training=False), model(inputs, training=False)):
        np.testing.assert_array_equal(got, want)


# --- ONNX ------------------------------------------------------------------


def to_onnx(model, spatial, channels, extra=()):
    """Convert `model` through tf2onnx like export/onnx.py, in inference mode."""
    specs = [tf.TensorSpec((None, *spatial, channels), tf.float32, name="image"), *extra]

    def compute(*inputs):
        outputs = model(list(inputs) if len(inputs) > 1 else inputs[0], training=False)
        outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
        return {f"output_{i}": y for i, y in enumerate(outputs)}

    fn = tf.function(compute, input_signature=specs, autograph=False)
    proto, _ = tf2onnx.convert.from_function(fn, input_signature=specs, opset=OPSET)
    onnx.checker.check_model(proto, full_check=True)
    return proto


@pytest.mark.parametrize("spatial,padding", [((7, 7), "same"), ((5, 7), "valid")])
def test_autoencoder_onnx_parity(spatial, padding):
    keras.utils.set_random_seed(1)
    model = conv_autoencoder(*spatial, padding=padding, channels=2)
    proto = to_onnx(model, spatial, 2)
    ops_used = {node.op_type for node in proto.graph.node}
    assert "MaxPool" in ops_used and "ScatterND" not in ops_used
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    for batch in (1, 3, 64):
        x = random_image((batch, *spatial, 2), seed=batch)
        want = model(x, training=False)
        got = session.run(None, {"image": x})
        assert [g.shape for g in got] == [tuple(w.shape) for w in want]
        errors = [float(np.max(np.abs(g - w.numpy()))) for g, w in zip(got, want)]
        # The mask (ReLU makes many tied zeros) must match exactly.
        assert errors[0] <= ATOL and errors[1] == 0.0, (batch, errors)


# --- Sampling --------------------------------------------------------------


def test_sampling_with_explicit_eps_matches_numpy():
    mean, log_var, eps = (random_image((5, 3), seed=s) for s in range(3))
    want = mean + np.exp(0.5 * log_var) * eps
    for training in (True, False):
        got = Sampling(seed=1)([mean, log_var, eps], training=training)
        np.testing.assert_allclose(got, want, rtol=1e-6)


def test_sampling_inference_returns_the_mean():
    mean, log_var = random_image((5, 3)), random_image((5, 3), seed=1)
    np.testing.assert_array_equal(Sampling(seed=1)([mean, log_var], training=False), mean)
    np.testing.assert_array_equal(Sampling(seed=1)([mean, log_var]), mean)
    np.testing.assert_array_equal(Sampling(seed=1, deterministic=True)([mean, log_var], training=True), mean)


def test_seeded_sampling_is_reproducible_and_has_the_right_moments():
    """mean 1 and log_var log(4) give z ~ N(1, 2^2): with 20000 draws the
    standard errors of the sample mean and std are ~0.014 and ~0.01, so
    0.1 is a generous (> 7 sigma) bound."""
    shape = (2000, 10)
    mean = np.ones(shape, np.float32)
    log_var = np.full(shape, np.log(4.0), np.float32)
    first = Sampling(seed=42)([mean, log_var], training=True).numpy()
    again = Sampling(seed=42)([mean, log_var], training=True).numpy()
    np.testing.assert_array_equal(first, again)
    layer = Sampling(seed=42)
    layer([mean, log_var], training=True)
    assert not np.array_equal(layer([mean, log_var], training=True), first), "the generator advances"
    assert not np.array_equal(Sampling(seed=43)([mean, log_var], training=True), first)
    assert abs(first.mean() - 1.0) < 0.1
    assert abs(first.std() - 2.0) < 0.1


def test_sampling_gradients_match_the_analytic_formula():
    mean, log_var, eps = (tf.constant(random_image((4, 3), seed=s)) for s in range(3))
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([mean, log_var])
        explicit = tf.reduce_sum(Sampling()([mean, log_var, eps]))
        sampled = tf.reduce_sum(Sampling(seed=0)([mean, log_var], training=True))
    d_mean, d_log_var = tape.gradient(explicit, [mean, log_var])
    np.testing.assert_allclose(d_mean, np.ones((4, 3)), rtol=1e-6)
    np.testing.assert_allclose(d_log_var, 0.5 * np.exp(0.5 * log_var.numpy()) * eps.numpy(), rtol=1e-6)
    for grad in tape.gradient(sampled, [mean, log_var]):
        assert np.all(np.isfinite(grad))


def test_sampling_refuses_bad_arguments():
    with pytest.raises(ValueError, match="seed=1.5"):
        Sampling(seed=1.5)
    with pytest.raises(ValueError, match="deterministic=1"):
        Sampling(deterministic=1)
    with pytest.raises(ValueError, match="same shape"):
        Sampling()([np.zeros((2, 3), np.float32), np.zeros((2, 4), np.float32)])
    with pytest.raises(ValueError, match="\\[mean, log_var\\]"):
        Sampling().compute_output_shape([(2, 3)])


def test_sampling_onnx_mean_path_and_explicit_eps():
    keras.utils.set_random_seed(2)
    image, mean, log_var, sampling = vae_encoder()
    heads = keras.Model(image, [mean, log_var])
    sampler = keras.Model(image, sampling([mean, log_var]))
    eps = keras.Input((2,), name="eps")
    explicit = keras.Model([image, eps], sampling([mean, log_var, eps]))

    proto = to_onnx(sampler, (6, 6), 1)
    assert not {n.op_type for n in proto.graph.node} & {"RandomNormal", "RandomNormalLike"}
    mean_path = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    proto = to_onnx(explicit, (6, 6), 1, extra=[tf.TensorSpec((None, 2), tf.float32, name="eps")])
    assert [v.name for v in proto.graph.input] == ["image", "eps"]
    with_eps = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    for batch in (1, 3, 64):
        x, e = random_image((batch, 6, 6, 1), seed=batch), random_image((batch, 2), seed=100 + batch)
        m, lv = (t.numpy() for t in heads(x, training=False))
        (got,) = mean_path.run(None, {"image": x})
        assert np.max(np.abs(got - m)) <= ATOL
        (got,) = with_eps.run(None, {"image": x, "eps": e})
        assert np.max(np.abs(got - (m + np.exp(0.5 * lv) * e))) <= ATOL
