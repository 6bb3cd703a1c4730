"""Samplers: balance, determinism, P x K structure, and no identity leaks."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zoo.training import datasets, samplers

FAST = settings(max_examples=60, deadline=None)


@st.composite
def label_arrays(draw, min_per_class=2, min_classes=2):
    """Shuffled labels with arbitrary (non-contiguous, possibly negative) class ids."""
    counts = draw(st.lists(st.integers(min_per_class, 7), min_size=min_classes, max_size=9))
    ids = draw(st.lists(st.integers(-50, 50), min_size=len(counts), max_size=len(counts), unique=True))
    return draw(st.permutations(np.repeat(ids, counts).tolist()))


def _as_array(labels):
    return np.asarray(labels, dtype=np.int64)


@FAST
@given(labels=label_arrays(), half=st.integers(1, 40), seed=st.integers(0, 2**32))
def test_balanced_pairs_properties(labels, half, seed):
    labels = _as_array(labels)
    a, b, same = samplers.balanced_pairs(labels, 2 * half, seed)
    assert a.dtype == b.dtype == same.dtype == np.int64
    assert a.shape == b.shape == same.shape == (2 * half,)
    assert same.sum() == half
    assert ((0 <= a) & (a < labels.size) & (0 <= b) & (b < labels.size)).all()
    np.testing.assert_array_equal(labels[a] == labels[b], same == 1)
    assert (a[same == 1] != b[same == 1]).all()


@FAST
@given(labels=label_arrays(), n=st.integers(1, 50), seed=st.integers(0, 2**32))
def test_triplets_properties(labels, n, seed):
    labels = _as_array(labels)
    anchor, positive, negative = samplers.triplets(labels, n, seed)
    assert anchor.shape == positive.shape == negative.shape == (n,)
    assert (labels[anchor] == labels[positive]).all() and (anchor != positive).all()
    assert (labels[anchor] != labels[negative]).all()


@FAST
@given(labels=label_arrays(min_per_class=1), data=st.data(), seed=st.integers(0, 2**32))
def test_pk_batches_structure(labels, data, seed):
    labels = _as_array(labels)
    classes, counts = np.unique(labels, return_counts=True)
    p = data.draw(st.integers(1, len(classes)))
    k = data.draw(st.integers(1, 5))
    batches = samplers.pk_batches(labels, p, k, n_batches=4, seed=seed)
    assert batches.shape == (4, p * k) and batches.dtype == np.int64
    for row in batches:
        blocks = labels[row].reshape(p, k)
        assert (blocks == blocks[:, :1]).all(), "each block of K is one class"
        assert len(set(blocks[:, 0])) == p, "P distinct classes per batch"
        for block, idx in zip(blocks, row.reshape(p, k)):
            if counts[classes == block[0]][0] >= k:
                assert len(set(idx)) == k, "no repeats when the class has >= K samples"


@FAST
@given(labels=label_arrays(min_per_class=1), data=st.data(), seed=st.integers(0, 2**32))
def test_identity_disjoint_split_has_no_leaks(labels, data, seed):
    labels = _as_array(labels)
    n_classes = len(np.unique(labels))
    n_parts = data.draw(st.integers(2, n_classes))
    cuts = sorted(data.draw(st.lists(st.integers(1, n_classes - 1), min_size=n_parts - 1,
                                     max_size=n_parts - 1, unique=True)))
    sizes = np.diff([0, *cuts, n_classes]).tolist()
    parts = samplers.identity_disjoint_split(labels, sizes, seed)
    _assert_identity_disjoint(labels, parts)
    assert [len(np.unique(labels[p])) for p in parts] == sizes


def _assert_identity_disjoint(labels, parts):
    class_sets = [set(labels[p].tolist()) for p in parts]
    for i, first in enumerate(class_sets):
        for second in class_sets[i + 1:]:
            assert not first & second, "a class appears in two parts"
    assert set().union(*class_sets) == set(labels.tolist())
    everything = np.concatenate(parts)
    np.testing.assert_array_equal(np.sort(everything), np.arange(labels.size))
    assert all((np.diff(p) > 0).all() for p in parts)


def test_identity_disjoint_split_on_orl(orl_faces):
    labels = orl_faces[1]
    gallery, probe = samplers.identity_disjoint_split(labels, (30, 10), seed=0)
    _assert_identity_disjoint(labels, (gallery, probe))
    assert gallery.size == 300 and probe.size == 100


@pytest.mark.parametrize("subset", ["background", "evaluation"])
def test_identity_disjoint_split_on_omniglot(omniglot, subset):
    labels = omniglot[subset][1]
    parts = samplers.identity_disjoint_split(labels, (0.7, 0.15, 0.15), seed=0)
    _assert_identity_disjoint(labels, parts)
    n_classes = len(np.unique(labels))
    assert sum(len(np.unique(labels[p])) for p in parts) == n_classes
    assert all(p.size % 20 == 0 for p in parts), "all 20 drawers of a character stay together"


def test_fraction_rounding_uses_largest_remainder():
    labels = np.repeat(np.arange(10), 2)
    parts = samplers.identity_disjoint_split(labels, (0.55, 0.25, 0.2), seed=0)
    # 5.5, 2.5, 2.0 classes -> floors 5, 2, 2 -> the one spare class goes to the
    # first largest remainder (0.5, a tie broken by position): 6, 2, 2.
    assert [len(np.unique(labels[p])) for p in parts] == [6, 2, 2]


# --- determinism and epochs ---------------------------------------------------

LABELS = np.repeat(np.arange(12), 9)
SAMPLERS = {
    "balanced_pairs": lambda seed, epoch: samplers.balanced_pairs(LABELS, 64, seed, epoch),
    "triplets": lambda seed, epoch: samplers.triplets(LABELS, 64, seed, epoch),
    "pk_batches": lambda seed, epoch: (samplers.pk_batches(LABELS, 4, 3, 8, seed, epoch),),
}


@pytest.mark.parametrize("name", SAMPLERS)
def test_same_seed_same_draw_and_new_draw_per_epoch(name):
    draw = SAMPLERS[name]
    for first, again in zip(draw(7, 0), draw(7, 0)):
        np.testing.assert_array_equal(first, again)
    assert any(not np.array_equal(x, y) for x, y in zip(draw(7, 0), draw(8, 0)))
    assert any(not np.array_equal(x, y) for x, y in zip(draw(7, 0), draw(7, 1)))


def test_split_is_fixed_by_seed():
    first = samplers.identity_disjoint_split(LABELS, (0.5, 0.5), seed=3)
    again = samplers.identity_disjoint_split(LABELS, (0.5, 0.5), seed=3)
    other = samplers.identity_disjoint_split(LABELS, (0.5, 0.5), seed=4)
    np.testing.assert_array_equal(first[0], again[0])
    assert not np.array_equal(first[0], other[0])


def test_pairs_are_uniform_over_anchors_and_partners():
    """Classes of sizes 2 and 8: anchors are uniform over the 10 samples, so a
    positive pair is drawn from class 0 with probability 2/10."""
    labels = np.array([0] * 2 + [1] * 8)
    a, b, same = samplers.balanced_pairs(labels, 20_000, seed=0)
    np.testing.assert_allclose(np.bincount(a, minlength=10) / a.size, 0.1, atol=0.01)
    assert abs((labels[a[same == 1]] == 0).mean() - 0.2) < 0.02
    b_neg = b[(same == 0) & (labels[a] == 1)]
    np.testing.assert_allclose(np.bincount(b_neg, minlength=2)[:2] / b_neg.size, 0.5, atol=0.03)


def test_pk_small_class_is_drawn_with_replacement():
    labels = np.array([0, 0, 1, 1, 1, 1])
    batches = samplers.pk_batches(labels, p=2, k=4, n_batches=20, seed=0)
    small = [row[labels[row] == 0] for row in batches]
    assert all(len(block) == 4 and set(block) <= {0, 1} for block in small)


# --- argument errors ------------------------------------------------------------


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: samplers.balanced_pairs(np.zeros(5, int), 4), "at least 2 classes"),
        (lambda: samplers.balanced_pairs(np.array([0, 0, 1]), 4), "single-sample classes"),
        (lambda: samplers.balanced_pairs(LABELS, 7), "n_pairs=7"),
        (lambda: samplers.balanced_pairs(LABELS, 0), "n_pairs=0"),
        (lambda: samplers.balanced_pairs(LABELS, 4, seed=-1), "seed=-1"),
        (lambda: samplers.balanced_pairs(LABELS, 4, epoch=1.5), "epoch=1.5"),
        (lambda: samplers.balanced_pairs(np.zeros((2, 2)), 4), "1-D"),
        (lambda: samplers.triplets(LABELS, 0), "n=0"),
        (lambda: samplers.triplets(np.array([3, 3, 3]), 2), "at least 2 classes"),
        (lambda: samplers.pk_batches(LABELS, 13, 2, 1), "p=13"),
        (lambda: samplers.pk_batches(LABELS, 2, 0, 1), "k=0"),
        (lambda: samplers.identity_disjoint_split(LABELS, (0.5, 0.4)), "sum to 1"),
        (lambda: samplers.identity_disjoint_split(LABELS, (6, 5)), "sum to the 12 classes"),
        (lambda: samplers.identity_disjoint_split(LABELS, (0.99, 0.01)), "no class"),
        (lambda: samplers.identity_disjoint_split(LABELS, (1.0,)), "at least 2"),
    ],
)
def test_errors_name_the_value(call, match):
    with pytest.raises(ValueError, match=match) as info:
        call()
    assert "Received" in str(info.value)


# --- tf.data wrappers -------------------------------------------------------------


def _toy_images(labels):
    return (np.arange(labels.size, dtype=np.uint8)[:, None, None] * np.ones((1, 5, 4), np.uint8))


def test_pairs_dataset_matches_balanced_pairs():
    images = _toy_images(LABELS)
    ds = samplers.pairs_dataset(images, LABELS, n_pairs=20, seed=1, batch_size=8, epoch=2)
    batches = list(ds.as_numpy_iterator())
    assert [len(s) for _, s in batches] == [8, 8, 4]
    a, b, same = samplers.balanced_pairs(LABELS, 20, seed=1, epoch=2)
    inputs, target = batches[0]
    assert set(inputs) == {"image_a", "image_b"} and target.dtype == np.float32
    assert inputs["image_a"].shape == (8, 5, 4, 1) and inputs["image_a"].dtype == np.float32
    np.testing.assert_allclose(inputs["image_a"], datasets.to_float(images[a[:8]]))
    np.testing.assert_allclose(inputs["image_b"], datasets.to_float(images[b[:8]]))
    np.testing.assert_array_equal(target, same[:8])


def test_pk_dataset_yields_p_times_k_batches():
    images = _toy_images(LABELS)
    ds = samplers.pk_dataset(images, LABELS, p=3, k=2, steps=5, seed=0)
    batches = list(ds.as_numpy_iterator())
    assert len(batches) == 5
    want = samplers.pk_batches(LABELS, 3, 2, 5, seed=0)
    for (x, y), idx in zip(batches, want):
        assert x.shape == (6, 5, 4, 1) and x.dtype == np.float32
        np.testing.assert_array_equal(y, LABELS[idx])
        np.testing.assert_allclose(x, datasets.to_float(images[idx]))
