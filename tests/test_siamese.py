"""Pair heads and the verification designs: numerics, tied-weight proofs, freezing."""

import numpy as np
import pytest
import tensorflow as tf

import keras
import zoo
from tests.harness import assert_keras_round_trip
from zoo.layers import L2Normalize, PairDistance, PairFeatures, ScaleGradient

RNG = np.random.default_rng(0)
A = RNG.normal(size=(5, 6)).astype("float32")
B = RNG.normal(size=(5, 6)).astype("float32")


def test_pair_distance_matches_numpy():
    euclid = PairDistance("euclidean")([A, B]).numpy()
    np.testing.assert_allclose(euclid[:, 0], np.linalg.norm(A - B, axis=1), rtol=1e-5)
    cosine = PairDistance("cosine")([A, B]).numpy()[:, 0]
    expected = np.sum(A * B, 1) / np.linalg.norm(A, axis=1) / np.linalg.norm(B, axis=1)
    np.testing.assert_allclose(cosine, expected, rtol=1e-5)
    assert np.all(np.abs(cosine) <= 1.0)


def test_euclidean_gradient_is_finite_for_identical_embeddings():
    a = tf.Variable(A)
    with tf.GradientTape() as tape:
        d = PairDistance("euclidean")([a, tf.identity(a)])
    grad = tape.gradient(d, a)
    assert np.all(np.isfinite(grad.numpy()))


def test_pair_features_and_l2_normalize_match_numpy():
    np.testing.assert_allclose(PairFeatures()([A, B]).numpy(),
                               np.concatenate([np.abs(A - B), A * B], axis=1), rtol=1e-6)
    np.testing.assert_allclose(L2Normalize()(A).numpy(),
                               A / np.linalg.norm(A, axis=1, keepdims=True), rtol=1e-6)


def test_scale_gradient_is_identity_forward_and_scales_backward():
    x = tf.Variable(A)
    with tf.GradientTape() as tape:
        y = ScaleGradient(0.5)(x)
        loss = tf.reduce_sum(y * B)
    np.testing.assert_array_equal(y.numpy(), A)
    np.testing.assert_allclose(tape.gradient(loss, x).numpy(), 0.5 * B, rtol=1e-6)


@pytest.mark.parametrize("layer", [L2Normalize(axis=-1), PairDistance("cosine"),
                                   PairFeatures(), ScaleGradient(0.5)])
def test_heads_serialize(layer):
    again = keras.layers.deserialize(keras.layers.serialize(layer))
    assert type(again) is type(layer) and again.get_config() == layer.get_config()


def test_mismatched_pair_shapes_are_refused():
    with pytest.raises(ValueError, match="same shape"):
        PairDistance()([A, B[:, :4]])
    with pytest.raises(ValueError, match="takes a pair"):
        PairFeatures()([A])


def test_bad_arguments_name_the_value():
    with pytest.raises(ValueError, match="metric="):
        PairDistance("manhattan")
    with pytest.raises(ValueError, match="tied_update="):
        zoo.create("verify_tied", tied_update="median")


# --- approach 1b: tied towers ----------------------------------------------

def _tied(tied_update="sum"):
    keras.utils.set_random_seed(0)
    return zoo.create("verify_tied", widths=(4, 8), embedding_dim=8, hidden=(8,),
                      tied_update=tied_update)


def _pair_batch():
    rng = np.random.default_rng(1)
    x = {"image_a": rng.random((6, 28, 28, 1), dtype=np.float32),
         "image_b": rng.random((6, 28, 28, 1), dtype=np.float32)}
    return x, np.array([1, 0, 1, 0, 1, 0], "float32")[:, None]


def _tower_gradients(model, x, y, cut=None):
    """Gradients wrt the tower variables; `cut` stops the gradient of one branch."""
    tower = model.get_layer("embed")
    with tf.GradientTape() as tape:
        ea, eb = tower(x["image_a"], training=True), tower(x["image_b"], training=True)
        ea = tf.stop_gradient(ea) if cut == "a" else ea
        eb = tf.stop_gradient(eb) if cut == "b" else eb
        fa = model.get_layer("tied_update_a")(ea)
        fb = model.get_layer("tied_update_b")(eb)
        h = model.get_layer("head_dense0")(model.get_layer("pair_features")([fa, fb]))
        p = model.get_layer("match_probability")(h)
        loss = tf.reduce_mean(keras.losses.binary_crossentropy(y, p))
    return tape.gradient(loss, tower.trainable_variables)


def test_tied_model_holds_one_copy_of_the_tower():
    model = _tied()
    tower = model.get_layer("embed")
    assert [l.name for l in model.layers].count("embed") == 1
    ids = [id(v) for v in model.weights]
    assert len(ids) == len(set(ids))
    head = [w for l in model.layers if l.name != "embed" for w in l.weights]
    assert len(model.weights) == len(tower.weights) + len(head)
    untied_params = 2 * tower.count_params() + sum(int(np.prod(w.shape)) for w in head)
    assert model.count_params() == untied_params - tower.count_params()


def test_shared_gradient_is_the_sum_of_the_branch_gradients():
    model = _tied()
    x, y = _pair_batch()
    both = _tower_gradients(model, x, y)
    only_a = _tower_gradients(model, x, y, cut="b")
    only_b = _tower_gradients(model, x, y, cut="a")
    for g, ga, gb in zip(both, only_a, only_b):
        np.testing.assert_allclose(g.numpy(), ga.numpy() + gb.numpy(), rtol=1e-4, atol=1e-7)
    assert any(np.abs(ga.numpy()).max() > 0 for ga in only_a)


def test_tied_update_mean_gives_half_the_sum():
    """With the same weights, the "mean" model's tower gradient is (x + y) / 2,
    where x and y are the gradients each branch alone gives the "sum" model."""
    x, y = _pair_batch()
    summed_model = _tied("sum")
    x_grad = _tower_gradients(summed_model, x, y, cut="b")
    y_grad = _tower_gradients(summed_model, x, y, cut="a")
    mean = _tower_gradients(_tied("mean"), x, y)
    for gx, gy, gm in zip(x_grad, y_grad, mean):
        np.testing.assert_allclose(gm.numpy(), (gx.numpy() + gy.numpy()) / 2, rtol=1e-4, atol=1e-7)


def test_tied_model_round_trips(tmp_path):
    model = _tied("mean")
    x, _ = _pair_batch()
    again = assert_keras_round_trip(model, x, tmp_path)
    assert again.get_layer("tied_update_a").factor == 0.5


# --- approach 1a: the frozen feature extractor -----------------------------

def test_verify_mlp_backbone_stays_bit_identical_through_fit():
    keras.utils.set_random_seed(0)
    model = zoo.create("verify_mlp", widths=(4, 8), hidden=(8,))
    backbone = model.get_layer("backbone")
    before = [w.numpy().copy() for w in backbone.weights]  # BN moving stats included
    x, y = _pair_batch()
    model.fit(x, y, epochs=2, batch_size=3, verbose=0)
    for b, w in zip(before, backbone.weights):
        np.testing.assert_array_equal(w.numpy(), b)
    assert not backbone.trainable and len(model.trainable_weights) == 4  # two Dense layers


# --- approach 2: two channels ----------------------------------------------

def test_two_channel_sees_both_images_as_channels():
    model = zoo.create("two_channel", widths=(4, 8), hidden=(8,))
    assert tuple(model.get_layer("backbone").inputs[0].shape) == (None, 28, 28, 2)
    x, _ = _pair_batch()
    swapped = {"image_a": x["image_b"], "image_b": x["image_a"]}
    assert not np.allclose(model(x).numpy(), model(swapped).numpy())


# --- pseudo-Siamese cross-domain model -------------------------------------

def test_cross_domain_loss_ranks_each_query_against_the_whole_batch():
    """Hand check: 2 queries, 2 gallery items, 1-D after normalisation. With
    query i equal to gallery i and orthogonal to the other pair, each item's
    one positive has logit 1/t and the two others 0, so the loss is
    -log(e^(1/t) / (e^(1/t) + 2))."""
    from zoo.losses import CrossDomainRankingLoss

    q = np.array([[1.0, 0.0], [0.0, 1.0]], "float32")
    t = 0.5
    loss = CrossDomainRankingLoss(temperature=t)(np.zeros(2), np.concatenate([q, q], axis=1))
    expected = -np.log(np.exp(1 / t) / (np.exp(1 / t) + 2))
    np.testing.assert_allclose(float(loss), expected, rtol=1e-5)


def test_cross_domain_towers_are_not_shared():
    model = zoo.create("cross_domain", widths=(4, 8))
    query, gallery = model.get_layer("embed_query"), model.get_layer("embed")
    assert query is not gallery
    assert not {id(v) for v in query.weights} & {id(v) for v in gallery.weights}


def test_edge_sketch_marks_edges():
    from zoo.training.datasets import edge_sketch

    square = np.zeros((1, 9, 9), np.uint8)
    square[0, 3:6, 3:6] = 255
    sketch = edge_sketch(square)[0]
    assert sketch.dtype == np.uint8 and sketch.max() == 255
    assert sketch[4, 4] == 0 and sketch[0, 0] == 0  # flat inside and outside
    assert sketch[3, 2] > 0 and sketch[2, 4] > 0  # at the border
    with pytest.raises(ValueError, match="uint8"):
        edge_sketch(square.astype("float32"))
