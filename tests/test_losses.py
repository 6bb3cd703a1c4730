"""Tests of zoo.losses: NumPy references, hand-derived values, gradients,
self-pair masks, serialization and bad inputs.

The pure functions keep their input dtype, so the reference comparisons feed
float64 and hold to rtol 1e-5; the Loss classes (float32) are checked more
loosely.
"""

from zoo import backend  # noqa: F401  (pins the TF backend before Keras)

import inspect
import math

import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st
from keras import ops

from tests.harness import assert_keras_round_trip
from zoo.losses import (
    ContrastiveLoss,
    MarginBeta,
    MarginLoss,
    RankingLoss,
    TripletLoss,
    contrastive_loss,
    margin_loss,
    pairwise_cosine_distances,
    pairwise_euclidean_distances,
    pairwise_squared_distances,
    positive_mask,
    ranking_loss,
    safe_euclidean,
    triplet_loss,
)
from zoo.losses.margin import distance_weighted_logits, sample_negative_counts

RTOL = 1e-5
ATOL = 1e-8
FAST = settings(max_examples=25, deadline=None)
MININGS = ("all", "hard", "semi_hard")


# --- NumPy references (loops, independent of the library) -------------------


def np_distances(x, kind):
    n = len(x)
    d = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            if kind == "euclidean":
                d[i, j] = math.sqrt(np.sum((x[i] - x[j]) ** 2))
            else:
                u = x[i] / np.linalg.norm(x[i])
                v = x[j] / np.linalg.norm(x[j])
                d[i, j] = 0.0 if i == j else 1.0 - float(u @ v)
    return d


def np_contrastive(y, d, margin, variant):
    out = []
    for yi, di in zip(y, d):
        hinge = max(margin - di, 0.0)
        out.append(yi * di**2 + (1 - yi) * (hinge**2 if variant == "hadsell" else hinge))
    return np.array(out)


def np_triplet(labels, x, margin, mining, kind):
    d = np_distances(x, kind)
    n = len(labels)
    values = []
    for a in range(n):
        ps = [p for p in range(n) if p != a and labels[p] == labels[a]]
        ns = [k for k in range(n) if labels[k] != labels[a]]
        if not ns:
            continue
        if mining == "all":
            values += [max(d[a, p] - d[a, k] + margin, 0.0) for p in ps for k in ns]
        elif mining == "hard" and ps:
            values.append(max(max(d[a, p] for p in ps) - min(d[a, k] for k in ns) + margin, 0.0))
        elif mining == "semi_hard":
            for p in ps:
                farther = [d[a, k] for k in ns if d[a, k] > d[a, p]]
                neg = min(farther) if farther else max(d[a, k] for k in ns)
                values.append(max(d[a, p] - neg + margin, 0.0))
    if mining == "all":
        active = [v for v in values if v > 0]
        return sum(active) / len(active) if active else 0.0
    return sum(values) / len(values) if values else 0.0


def np_margin(labels, x, beta, alpha, nu):
    z = x / np.linalg.norm(x, axis=1, keepdims=True)
    total, active = 0.0, 0
    for i in range(len(z)):
        for j in range(len(z)):
            if i == j:
                continue
            d = math.sqrt(np.sum((z[i] - z[j]) ** 2))
            y = 1.0 if labels[i] == labels[j] else -1.0
            loss = max(0.0, alpha + y * (d - beta))
            total += loss
            active += loss > 0
    return (total / active if active else 0.0) + nu * beta


def np_sampling_probs(x, labels, cutoff, nonzero_loss_cutoff):
    z = x / np.linalg.norm(x, axis=1, keepdims=True)
    n, dim = z.shape
    probs = np.zeros((n, n))
    for a in range(n):
        negs = [k for k in range(n) if labels[k] != labels[a]]
        dist = {k: math.sqrt(np.sum((z[a] - z[k]) ** 2)) for k in negs}
        cands = [k for k in negs if dist[k] < nonzero_loss_cutoff] or negs
        if not cands:
            continue
        w = {}
        for k in cands:
            dc = max(dist[k], cutoff)
            w[k] = dc ** (2 - dim) * max(1 - dc * dc / 4, 1e-8) ** (-(dim - 3) / 2)
        total = sum(w.values())
        for k in cands:
            probs[a, k] = w[k] / total
    return probs


def np_supcon(labels, x, temperature):
    z = x / np.linalg.norm(x, axis=1, keepdims=True)
    n = len(z)
    per_query = []
    for i in range(n):
        ps = [p for p in range(n) if p != i and labels[p] == labels[i]]
        if not ps or all(labels == labels[i]):
            continue
        denom = sum(math.exp(z[i] @ z[a] / temperature) for a in range(n) if a != i)
        per_query.append(-np.mean([math.log(math.exp(z[i] @ z[p] / temperature) / denom)
                                   for p in ps]))
    return float(np.mean(per_query)) if per_query else 0.0


@st.composite
def batches(draw, max_n=12):
    """(labels [N], embeddings [N, D] float64): a few classes, Gaussian points."""
    n = draw(st.integers(2, max_n))
    classes = draw(st.integers(1, 4))
    dim = draw(st.integers(2, 6))
    scale = draw(st.sampled_from([0.3, 1.0, 5.0]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    return rng.integers(0, classes, n), scale * rng.normal(size=(n, dim))


# --- shared distances and masks -------------------------------------------------


@FAST
@given(batches())
def test_pairwise_distances_match_numpy(batch):
    _, x = batch
    np.testing.assert_allclose(pairwise_euclidean_distances(x), np_distances(x, "euclidean"),
                               rtol=RTOL, atol=1e-7)
    np.testing.assert_allclose(pairwise_squared_distances(x), np_distances(x, "euclidean") ** 2,
                               rtol=RTOL, atol=1e-7)
    np.testing.assert_allclose(pairwise_cosine_distances(x), np_distances(x, "cosine"),
                               rtol=RTOL, atol=1e-7)


def test_squared_distances_stable_far_from_origin():
    """Points at 1e4 from the origin, 1e-2 apart: the plain expansion loses
    every digit in float32; centring keeps the distance."""
    x = np.array([[1e4, 1e4], [1e4 + 1e-2, 1e4]], dtype="float32")
    d = pairwise_euclidean_distances(x)
    np.testing.assert_allclose(d[0, 1], x[1, 0] - x[0, 0], rtol=1e-3)  # 0.009766 in float32


def test_positive_mask_excludes_self_pairs_even_for_duplicates():
    labels = np.array([0, 0, 1, 2])
    mask = np.asarray(positive_mask(labels))
    expected = np.zeros((4, 4), bool)
    expected[0, 1] = expected[1, 0] = True
    np.testing.assert_array_equal(mask, expected)


# --- contrastive ------------------------------------------------------------------


@FAST
@given(st.integers(1, 20), st.floats(0.1, 3.0), st.sampled_from(["hadsell", "lecture"]),
       st.integers(0, 2**32 - 1))
def test_contrastive_matches_numpy(n, margin, variant, seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    d = rng.uniform(0, 2 * margin, n) * (rng.random(n) > 0.2)  # some exact zeros
    got = contrastive_loss(y, d[:, None], margin=margin, variant=variant)
    np.testing.assert_allclose(got, np_contrastive(y, d, margin, variant), rtol=RTOL, atol=ATOL)


def test_contrastive_hand_values():
    """d = [0, 0.5, 0.5, 1.5], y = [1, 1, 0, 0], margin 1:
    hadsell  = [0, 0.25, (1-0.5)^2 = 0.25, max(1-1.5,0)^2 = 0] -> mean 0.125
    lecture  = [0, 0.25, 1-0.5 = 0.5,      0]                 -> mean 0.1875
    """
    y, d = [1, 1, 0, 0], [[0.0], [0.5], [0.5], [1.5]]
    assert float(ContrastiveLoss()(y, d)) == pytest.approx(0.125)
    assert float(ContrastiveLoss(variant="lecture")(y, d)) == pytest.approx(0.1875)


@pytest.mark.parametrize("variant", ["hadsell", "lecture"])
@pytest.mark.parametrize("label", [0.0, 1.0])
def test_contrastive_gradient_finite_at_zero_distance(variant, label):
    """Identical embeddings: safe_euclidean gives d = 0 with a zero gradient;
    a plain sqrt would give NaN."""
    a = tf.Variable([[0.3, -1.2, 2.0]])
    b = tf.Variable([[0.3, -1.2, 2.0]])
    with tf.GradientTape() as tape:
        d = safe_euclidean(a, b, keepdims=True)
        loss = ContrastiveLoss(variant=variant)([[label]], d)
    grads = tape.gradient(loss, [a, b])
    assert float(d[0, 0]) == 0.0
    assert all(np.all(np.isfinite(g)) for g in grads)
    with tf.GradientTape() as tape:
        naive = ops.sqrt(ops.sum(ops.square(a - b), axis=-1))
    assert np.isnan(tape.gradient(naive, a)).any()


def test_contrastive_refuses_labels_outside_01():
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"y_true in \{0, 1\}"):
        ContrastiveLoss()([0, 2, 1], [0.1, 0.2, 0.3])
    with pytest.raises(tf.errors.InvalidArgumentError, match="distance >= 0"):
        ContrastiveLoss()([0, 1], [0.1, -0.2])


def _contrastive_xla(y, d):
    return contrastive_loss(y, d)


def test_contrastive_bad_labels_in_graph_and_under_xla():
    graph = tf.function(_contrastive_xla)
    with pytest.raises(tf.errors.InvalidArgumentError, match="same identity"):
        graph(tf.constant([-1.0, 1.0]), tf.constant([0.1, 0.2]))
    # XLA compiles asserts away: the loss turns NaN instead.
    xla = tf.function(_contrastive_xla, jit_compile=True)
    assert np.isnan(xla(tf.constant([3.0, 1.0]), tf.constant([0.1, 0.2]))).all()
    assert np.isfinite(xla(tf.constant([0.0, 1.0]), tf.constant([0.1, 0.2]))).all()


# --- triplet ------------------------------------------------------------------------


@FAST
@given(batches(), st.sampled_from(MININGS), st.sampled_from(["euclidean", "cosine"]),
       st.floats(0.05, 1.0))
def test_triplet_matches_numpy(batch, mining, distance, margin):
    labels, x = batch
    got = triplet_loss(labels, x, margin=margin, mining=mining, distance=distance)
    want = np_triplet(labels, x, margin, mining, distance)
    np.testing.assert_allclose(float(got), want, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("mining, expected", [("all", 4 / 3), ("hard", 0.75), ("semi_hard", 0.25)])
def test_triplet_hand_values(mining, expected):
    """1-D points x = [0, 1, 2, 4], labels [0, 0, 1, 1], margin 1, Euclidean.
    d01=1 d02=2 d03=4 d12=1 d13=3 d23=2.

    all: (a,p,n) losses 1-2+1=0, 1-4+1<0, (1,0,2): 1-1+1=1, (1,0,3)<0,
         (2,3,0): 2-2+1=1, (2,3,1): 2-1+1=2, (3,2,0)<0, (3,2,1): 0
         -> (1 + 1 + 2) / 3 active = 4/3.
    hard: a0: 1-min(2,4)+1=0; a1: 1-min(1,3)+1=1; a2: 2-min(2,1)+1=2;
          a3: 2-min(4,3)+1=0 -> 3/4.
    semi_hard: (0,1): closest negative beyond 1 is 2 -> 0; (1,0): beyond 1
          only 3 -> 0; (2,3): none beyond 2 -> largest negative 2 -> 1;
          (3,2): closest beyond 2 is 3 -> 0 -> 1/4.
    """
    x = np.array([[0.0], [1.0], [2.0], [4.0]])
    got = TripletLoss(margin=1.0, mining=mining)([0, 0, 1, 1], x)
    assert float(got) == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("mining", MININGS)
def test_triplet_degenerate_batches_give_zero(mining):
    x = np.random.default_rng(0).normal(size=(5, 3)).astype("float32")
    one_class = TripletLoss(mining=mining)([7, 7, 7, 7, 7], x)
    singletons = TripletLoss(mining=mining)([0, 1, 2, 3, 4], x)
    dup = np.repeat(x[:1], 5, axis=0)  # identical points, distinct labels
    duplicated = TripletLoss(mining=mining)([0, 1, 2, 3, 4], dup)
    for value in (one_class, singletons, duplicated):
        assert float(value) == 0.0


def test_triplet_duplicate_is_a_positive_not_self():
    """x0 == x1 share a label: anchor 0's positive is 1 at d = 0, never itself."""
    labels = np.array([0, 0, 1, 1])
    x = np.array([[0.0, 0.0], [0.0, 0.0], [1.0, 0.0], [0.0, 3.0]])
    for mining in MININGS:
        got = triplet_loss(labels, x, margin=0.5, mining=mining)
        assert float(got) == pytest.approx(np_triplet(labels, x, 0.5, mining, "euclidean"))


# --- margin ---------------------------------------------------------------------------


@FAST
@given(batches(), st.floats(0.5, 1.5), st.floats(0.05, 0.4), st.sampled_from([0.0, 0.1]))
def test_margin_all_negatives_matches_numpy(batch, beta, alpha, nu):
    labels, x = batch
    got = margin_loss(labels, x, beta=beta, alpha=alpha, nu=nu, negative_sampling="all")
    np.testing.assert_allclose(float(got), np_margin(labels, x, beta, alpha, nu),
                               rtol=RTOL, atol=ATOL)


def test_margin_hand_values():
    """Unit vectors z0 = (1,0), z1 = (0,1), z2 = (-1,0), labels [0, 0, 1],
    beta 1.2, alpha 0.2: d01 = sqrt2, d02 = 2, d12 = sqrt2.
    positives (0,1), (1,0): 0.2 + sqrt2 - 1.2 = sqrt2 - 1 each;
    negatives: 0.2 - 2 + 1.2 < 0 and 0.2 - sqrt2 + 1.2 < 0 -> 0.
    loss = 2 (sqrt2 - 1) / 2 active = sqrt2 - 1; nu = 0.1 adds 0.12.
    """
    x = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    loss = MarginLoss(beta=1.2, negative_sampling="all")
    assert float(loss([0, 0, 1], x)) == pytest.approx(math.sqrt(2) - 1, rel=1e-6)
    loss = MarginLoss(beta=1.2, nu=0.1, negative_sampling="all")
    assert float(loss([0, 0, 1], x)) == pytest.approx(math.sqrt(2) - 1 + 0.12, rel=1e-6)


@FAST
@given(batches(), st.sampled_from([0.3, 0.5]), st.sampled_from([1.0, 1.4, 10.0]))
def test_distance_weighted_probabilities_match_numpy(batch, cutoff, nonzero):
    labels, x = batch
    z = x / np.linalg.norm(x, axis=1, keepdims=True)
    d = pairwise_euclidean_distances(z)
    neg = labels[:, None] != labels[None, :]
    logits = np.asarray(distance_weighted_logits(d, neg, x.shape[1], cutoff, nonzero))
    want = np_sampling_probs(x, labels, cutoff, nonzero)
    has_neg = neg.any(axis=1)
    probs = np.exp(logits[has_neg]) / np.exp(logits[has_neg]).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(probs, want[has_neg], rtol=RTOL, atol=1e-9)


def test_distance_weighted_sampling_frequencies_and_seed():
    """Empirical draw frequencies follow the weights; an int seed repeats."""
    rng = np.random.default_rng(1)
    labels = np.array([0, 0, 1, 1, 2, 2, 3, 3])
    x = rng.normal(size=(8, 3))
    z = x / np.linalg.norm(x, axis=1, keepdims=True)
    d = pairwise_euclidean_distances(z)
    neg = labels[:, None] != labels[None, :]
    logits = distance_weighted_logits(d, neg, 3, 0.5, 10.0)
    want = np_sampling_probs(x, labels, 0.5, 10.0)
    draws = np.full(8, 8, dtype="int32")
    counts = sum(np.asarray(sample_negative_counts(logits, draws, seed=s)) for s in range(100))
    np.testing.assert_allclose(counts / counts.sum(axis=1, keepdims=True), want, atol=0.07)
    assert np.all(counts[~neg] == 0)
    a = margin_loss(labels, x, seed=3)
    np.testing.assert_array_equal(a, margin_loss(labels, x, seed=3))
    gen_a, gen_b = keras.random.SeedGenerator(5), keras.random.SeedGenerator(5)
    seq_a = [float(margin_loss(labels, x, seed=gen_a)) for _ in range(3)]
    seq_b = [float(margin_loss(labels, x, seed=gen_b)) for _ in range(3)]
    assert seq_a == seq_b and len(set(seq_a)) > 1


def test_margin_beta_is_learned_with_the_model():
    """MarginBeta's beta gets a gradient from MarginLoss(beta=None)."""
    layer = MarginBeta(beta_init=1.2)
    x = tf.constant(np.random.default_rng(0).normal(size=(6, 4)), dtype="float32")
    with tf.GradientTape() as tape:
        loss = MarginLoss(negative_sampling="all", nu=0.1)([0, 0, 1, 1, 2, 2], layer(x))
    (grad,) = tape.gradient(loss, [layer.beta])
    assert np.isfinite(grad) and float(grad) != 0.0


def test_margin_refuses_output_without_margin_beta():
    x = np.random.default_rng(0).normal(size=(4, 3)).astype("float32")
    with pytest.raises(tf.errors.InvalidArgumentError, match="MarginBeta"):
        MarginLoss()([0, 0, 1, 1], x)


# --- ranking (supervised contrastive) ---------------------------------------------


@FAST
@given(batches(), st.sampled_from([0.1, 0.5, 1.0]))
def test_ranking_matches_numpy(batch, temperature):
    labels, x = batch
    got = ranking_loss(labels, x, temperature=temperature)
    np.testing.assert_allclose(float(got), np_supcon(labels, x, temperature), rtol=RTOL, atol=ATOL)


def test_ranking_hand_values():
    """z0 = (1,0), z1 = (0,1), z2 = (-1,0), labels [0, 0, 1], temperature 1.
    query 0: positive 1 (logit 0) among {1: 0, 2: -1} -> log(1 + e^-1);
    query 1: positive 0 (logit 0) among {0: 0, 2: 0}  -> log 2;
    query 2: no positive -> excluded.  Loss = (log(1 + e^-1) + log 2) / 2.
    """
    x = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    expected = (math.log(1 + math.exp(-1)) + math.log(2)) / 2
    assert float(RankingLoss(temperature=1.0)([0, 0, 1], x)) == pytest.approx(expected, rel=1e-6)


def test_ranking_degenerate_batches_give_zero():
    x = np.random.default_rng(0).normal(size=(4, 3)).astype("float32")
    assert float(RankingLoss()([0, 1, 2, 3], x)) == 0.0
    assert float(RankingLoss()([0], x[:1])) == 0.0
    assert float(RankingLoss()([0, 1, 2, 3], np.repeat(x[:1], 4, axis=0))) == 0.0
    assert float(RankingLoss()([5, 5, 5, 5], x)) == 0.0  # one class: nothing to rank


# --- gradients --------------------------------------------------------------------------


LOSSES = [
    ContrastiveLoss(margin=1.5, variant="lecture", name="c"),
    TripletLoss(margin=0.3, mining="semi_hard", distance="cosine", name="t"),
    TripletLoss(mining="hard"),
    TripletLoss(),
    MarginLoss(alpha=0.1, beta=1.0, nu=0.01, cutoff=0.4, nonzero_loss_cutoff=1.3, seed=2),
    MarginLoss(beta=1.1, negative_sampling="all"),
    RankingLoss(temperature=0.2, reduction="sum"),
]
LOSS_IDS = ["contrastive", "triplet_semi_hard", "triplet_hard", "triplet_all", "margin_distance",
            "margin_all", "ranking"]


@pytest.mark.parametrize("loss", LOSSES[1:], ids=LOSS_IDS[1:])
def test_in_batch_gradients_finite_with_duplicates(loss):
    """Exact duplicates (d = 0 off the diagonal) and a zero vector."""
    x = np.random.default_rng(0).normal(size=(8, 4)).astype("float32")
    x[1] = x[0]
    x[5] = x[4]
    x[7] = 0.0
    v = tf.Variable(x)
    with tf.GradientTape() as tape:
        value = loss([0, 0, 1, 1, 2, 2, 3, 3], v)
    grad = tape.gradient(value, v)
    assert np.isfinite(float(value)) and np.all(np.isfinite(grad))


def test_class_losses_float32_close_to_numpy():
    rng = np.random.default_rng(4)
    labels = np.array([0, 0, 1, 1, 2, 2, 0, 1])
    x = rng.normal(size=(8, 5))
    x32 = x.astype("float32")
    for mining in MININGS:
        got = TripletLoss(mining=mining)(labels, x32)
        assert float(got) == pytest.approx(np_triplet(labels, x, 0.2, mining, "euclidean"),
                                           rel=1e-4, abs=1e-6)
    got = RankingLoss()(labels, x32)
    assert float(got) == pytest.approx(np_supcon(labels, x, 0.1), rel=1e-4)
    got = MarginLoss(beta=1.2, negative_sampling="all")(labels, x32)
    assert float(got) == pytest.approx(np_margin(labels, x, 1.2, 0.2, 0.0), rel=1e-4)


@pytest.mark.parametrize("loss", LOSSES[1:4] + LOSSES[5:], ids=LOSS_IDS[1:4] + LOSS_IDS[5:])
def test_in_batch_losses_compile_under_xla(loss):
    """GPUs run fit with jit_compile=True: the losses must compile and agree
    (the sampled MarginLoss is left out: its draws differ call to call)."""
    y = tf.constant([0, 0, 1, 1, 2, 2, 3, 3], "float32")
    x = tf.constant(np.random.default_rng(0).normal(size=(8, 5)), "float32")
    xla = tf.function(loss.__call__, jit_compile=True)
    assert float(xla(y, x)) == pytest.approx(float(loss(y, x)), rel=1e-5)


# --- serialization ------------------------------------------------------------------------


def _config_keys_mirror_init(obj):
    params = set(inspect.signature(type(obj).__init__).parameters) - {"self", "kwargs"}
    return params <= set(obj.get_config())


@pytest.mark.parametrize("loss", LOSSES, ids=LOSS_IDS)
def test_loss_serialization_round_trip(loss):
    assert _config_keys_mirror_init(loss)
    again = keras.losses.deserialize(keras.losses.serialize(loss))
    assert type(again) is type(loss)
    assert again.get_config() == loss.get_config()


def test_margin_beta_layer_round_trip():
    layer = MarginBeta(beta_init=0.9, name="beta")
    assert _config_keys_mirror_init(layer)
    again = keras.layers.deserialize(keras.layers.serialize(layer))
    assert type(again) is MarginBeta and again.get_config() == layer.get_config()
    assert again.compute_output_shape((None, 5)) == (None, 6)


@keras.saving.register_keras_serializable(package="zoo_test")
class PairDistance(keras.layers.Layer):
    """Siamese head for the test: safe Euclidean distance [N, 1]."""

    def call(self, a, b):
        return safe_euclidean(a, b, keepdims=True)


def _embedder():
    return keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="embed")], name="e")


def _pair_model():
    a, b = keras.Input((4,), name="a"), keras.Input((4,), name="b")
    embed = _embedder()
    return keras.Model([a, b], PairDistance()(embed(a), embed(b)))


def _margin_model():
    x = keras.Input((4,))
    return keras.Model(x, MarginBeta(beta_init=1.2, name="margin_beta")(_embedder()(x)))


@pytest.mark.parametrize("make, loss", [
    (_pair_model, ContrastiveLoss(margin=2.0, variant="lecture")),
    (_embedder, TripletLoss(margin=0.5, mining="semi_hard")),
    (_embedder, RankingLoss(temperature=0.5)),
    (_margin_model, MarginLoss(alpha=0.3, nu=0.01, seed=1)),
], ids=["contrastive", "triplet", "ranking", "margin"])
def test_model_with_loss_trains_and_reloads(make, loss, tmp_path):
    """fit -> .keras -> load_model(safe_mode=True): same outputs, same loss."""
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    model = make()
    x = rng.normal(size=(8, 4)).astype("float32")
    labels = np.array([0, 0, 1, 1, 2, 2, 3, 3])
    if make is _pair_model:
        x, labels = {"a": x, "b": x[::-1]}, np.array([1, 0, 1, 0, 0, 1, 0, 1])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss=loss)
    history = model.fit(x, labels, batch_size=8, epochs=2, shuffle=False, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    again = assert_keras_round_trip(model, x, tmp_path)
    assert type(again.loss) is type(loss)
    assert again.loss.get_config() == loss.get_config()
    if make is _margin_model:
        beta = float(model.get_layer("margin_beta").beta)
        assert beta != pytest.approx(1.2)  # trained by the model's optimizer
        assert float(again.get_layer("margin_beta").beta) == beta


def test_fit_refuses_bad_contrastive_labels():
    model = _pair_model()
    model.compile(optimizer="sgd", loss=ContrastiveLoss())
    x = np.ones((4, 4), "float32")
    with pytest.raises(tf.errors.InvalidArgumentError, match="1 = same identity"):
        model.fit({"a": x, "b": x}, np.array([0, 1, 2, 1]), verbose=0)


# --- argument validation ----------------------------------------------------------------


@pytest.mark.parametrize("cls, kwargs", [
    (ContrastiveLoss, {"margin": -1.0}),
    (ContrastiveLoss, {"variant": "hinge"}),
    (TripletLoss, {"mining": "hardest"}),
    (TripletLoss, {"distance": "manhattan"}),
    (TripletLoss, {"margin": float("nan")}),
    (MarginLoss, {"negative_sampling": "random"}),
    (MarginLoss, {"seed": 1.5}),
    (RankingLoss, {"temperature": 0.0}),
])
def test_bad_arguments_name_the_value(cls, kwargs):
    with pytest.raises(ValueError, match="Received"):
        cls(**kwargs)


def test_one_hot_labels_are_refused():
    x = np.zeros((4, 3), "float32")
    with pytest.raises(ValueError, match="argmax"):
        TripletLoss()(np.eye(4, dtype="float32"), x)
