"""zoo.search: exact top-k people against a float64 brute force, ties, the float32
error bound, and faiss agreement.

The reference scores every (query, vector) pair on its own in float64 and
orders people by (score, index) with a stable sort; identical vectors get
identical scores, so exact ties are ties there too.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zoo import search


def brute_force(matrix, counts, queries, k, distance):
    """(people [Q, k], scores [Q, k]) by scoring every pair in float64."""
    g, q = matrix.astype(np.float64), queries.astype(np.float64)
    if distance == "cosine":
        rows = (q[:, None, :] * g[None]).sum(-1)
    else:
        rows = -np.sqrt(((q[:, None, :] - g[None]) ** 2).sum(-1))
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    people = np.maximum.reduceat(rows, starts, axis=1)
    order = np.argsort(-people, axis=1, kind="stable")[:, :k]
    scores = np.take_along_axis(people, order, axis=1)
    return order, scores if distance == "cosine" else -scores


def random_case(seed, distance, people, dim, queries, several_rows, duplicates, integers):
    rng = np.random.default_rng(seed)
    counts = rng.integers(1, 4, size=people) if several_rows else np.ones(people, int)
    matrix = rng.normal(size=(counts.sum(), dim))
    q = rng.normal(size=(queries, dim))
    if duplicates:  # many people share one vector, and queries sit on enrolled vectors
        matrix[rng.integers(0, len(matrix), len(matrix) // 2)] = matrix[0]
        q[: queries // 2] = matrix[rng.integers(0, len(matrix), queries // 2)]
    if integers:  # exact ties everywhere
        matrix, q = np.round(matrix), np.round(q)
        matrix[~matrix.any(1)], q[~q.any(1)] = 1.0, 1.0
    if distance == "cosine":
        matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
        q /= np.linalg.norm(q, axis=1, keepdims=True)
    return matrix.astype(np.float32), counts, q.astype(np.float32)


@pytest.fixture(params=[0.0, 4.0])
def small_tiles(monkeypatch, request):
    """Tiles of a few rows and query blocks of a few queries, so a small gallery
    exercises every path; CROWDED=0 filters every tile by its floor too."""
    monkeypatch.setattr(search, "TILE_ROWS", 97)
    monkeypatch.setattr(search, "QUERY_BLOCK", 7)
    monkeypatch.setattr(search, "CROWDED", request.param)


@pytest.mark.parametrize("distance", ["cosine", "euclidean"])
@pytest.mark.parametrize("several_rows", [False, True])
def test_equals_float64_brute_force(small_tiles, distance, several_rows):
    matrix, counts, queries = random_case(0, distance, 300, 16, 40, several_rows, False, False)
    groups = search.Groups.build(matrix, counts)
    for k in (1, 10, 300):
        people, scores = search.numpy_top_k(groups, queries, k, distance)
        expected_people, expected_scores = brute_force(matrix, counts, queries, k, distance)
        np.testing.assert_array_equal(people, expected_people)
        np.testing.assert_allclose(scores, expected_scores, rtol=0, atol=1e-12)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10_000), distance=st.sampled_from(["cosine", "euclidean"]),
       people=st.integers(1, 300), dim=st.integers(1, 6), k=st.integers(1, 300),
       several_rows=st.booleans(), duplicates=st.booleans(), integers=st.booleans(),
       tile=st.integers(1, 200), crowded=st.sampled_from([0.0, 0.5, 4.0]))
def test_equals_float64_brute_force_property(seed, distance, people, dim, k, several_rows,
                                             duplicates, integers, tile, crowded):
    matrix, counts, queries = random_case(seed, distance, people, dim, 9, several_rows,
                                          duplicates, integers)
    k = min(k, people)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(search, "TILE_ROWS", tile)
        patch.setattr(search, "CROWDED", crowded)
        people_found, scores = search.numpy_top_k(search.Groups.build(matrix, counts),
                                                  queries, k, distance)
    expected_people, expected_scores = brute_force(matrix, counts, queries, k, distance)
    np.testing.assert_array_equal(people_found, expected_people)
    np.testing.assert_allclose(scores, expected_scores, rtol=0, atol=1e-12)


def test_floor_is_at_most_the_wide_th_best_of_each_column():
    rng = np.random.default_rng(5)
    for rows, wide in ((1000, 9), (500, 18), (143, 9), (20, 3), (10, 3)):
        tile = rng.normal(size=(rows, 30)).astype(np.float32)
        tile[:, 0] = 1.0  # a column of ties
        floor = search._floor(tile, wide)
        wide_th = -np.sort(-tile, axis=0)[wide - 1]
        assert floor.shape == (30,) and (floor <= wide_th).all()
        assert np.isfinite(floor).all() == (rows >= 8 * wide)


def test_exact_ties_are_broken_by_index_through_the_float64_fallback(monkeypatch):
    """30 people share one vector: no float32 margin separates the 10th from the
    18th candidate, so the float64 brute force decides, and ties go to the
    lowest index."""
    rng = np.random.default_rng(1)
    matrix = rng.normal(size=(200, 8)).astype(np.float32)
    shared = rng.choice(200, 30, replace=False)
    matrix[shared] = 10 * matrix[0]
    calls = []
    real = search._float64_brute_force
    monkeypatch.setattr(search, "_float64_brute_force",
                        lambda *args: calls.append(len(args[1])) or real(*args))
    people, scores = search.numpy_top_k(search.Groups.build(matrix), matrix[:1] * 10, 10,
                                        "euclidean")
    assert calls == [1]
    np.testing.assert_array_equal(people[0], np.sort(shared)[:10])
    assert (scores == 0.0).all()  # |q - g| computed directly: exactly 0


def test_an_enrolled_vector_is_at_distance_zero():
    rng = np.random.default_rng(2)
    matrix = (100 * rng.normal(size=(500, 32))).astype(np.float32)
    people, scores = search.numpy_top_k(search.Groups.build(matrix), matrix[::50], 3,
                                        "euclidean")
    np.testing.assert_array_equal(people[:, 0], np.arange(0, 500, 50))
    assert (scores[:, 0] == 0.0).all() and (scores[:, 1] > 1.0).all()


@pytest.mark.parametrize("distance", ["cosine", "euclidean"])
def test_float32_keys_stay_within_the_error_bound(distance):
    """|key32 - key64| <= eps / 2 (eps is twice the proven bound)."""
    matrix, counts, queries = random_case(3, distance, 2000, 64, 50, False, False, False)
    matrix *= 1.0 if distance == "cosine" else 7.0
    groups = search.Groups.build(matrix, counts)
    key32 = search._tile_keys(groups, 0, 2000, 0, 2000, queries.T.copy(), distance)
    key64 = search._tile_keys(groups, 0, 2000, 0, 2000, queries.T.astype(np.float64),
                              distance)
    eps = search._key_error(groups, queries, distance, 2.0 ** -24)
    error = np.abs(key32 - key64).max(axis=0)
    assert (error <= eps / 2).all() and (error > 0).any()


def test_bad_arguments_name_the_value():
    groups = search.Groups.build(np.ones((4, 3)), [1, 3])
    assert (groups.size, groups.max_count) == (2, 3)
    assert groups.owner.tolist() == [0, 1, 1, 1]
    with pytest.raises(ValueError, match=r"counts must be .*Received: counts=\[2 3\]"):
        search.Groups.build(np.ones((4, 3)), [2, 3])
    with pytest.raises(ValueError, match=r"\[M, D\]"):
        search.Groups.build(np.ones((0, 3)))
    with pytest.raises(ValueError, match=r"k must be in \[1, 2\].*k=3"):
        search.numpy_top_k(groups, np.ones((1, 3)), 3)
    with pytest.raises(ValueError, match=r"queries must be \[Q, 3\]"):
        search.numpy_top_k(groups, np.ones((1, 4)), 1)
    with pytest.raises(ValueError, match="distance"):
        search.numpy_top_k(groups, np.ones((1, 3)), 1, "manhattan")


@pytest.mark.parametrize("distance", ["cosine", "euclidean"])
@pytest.mark.parametrize("several_rows", [False, True])
def test_faiss_gives_the_same_people(distance, several_rows):
    pytest.importorskip("faiss")
    matrix, counts, queries = random_case(4, distance, 3000, 32, 100, several_rows, False, False)
    groups = search.Groups.build(matrix, counts)
    index = search.faiss_index(groups, distance)
    for k in (1, 10):
        people, scores = search.faiss_top_k(groups, index, queries, k, distance)
        expected_people, expected_scores = search.numpy_top_k(groups, queries, k, distance)
        np.testing.assert_array_equal(people, expected_people)
        np.testing.assert_allclose(scores, expected_scores, rtol=1e-5, atol=1e-5)
