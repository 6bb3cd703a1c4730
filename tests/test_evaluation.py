"""Tests of zoo.evaluation: hand-derived values, brute-force references,
threshold calibration hygiene, plots and input validation."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zoo import evaluation as ev

FAST = settings(max_examples=25, deadline=None)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


# --- verification ------------------------------------------------------------


def test_verification_hand_values():
    """scores [0.9, 0.7, 0.6, 0.2], labels [1, 0, 1, 0] (G I G I from the top).

    ROC (FAR, TAR), one point per threshold: inf (0, 0), 0.9 (0, .5),
    0.7 (.5, .5), 0.6 (.5, 1), 0.2 (1, 1).
    AUC: genuine above impostor in 3 of the 4 (G, I) pairs -> 0.75.
    EER: FRR - FAR = 1, .5, 0, ... -> 0 at (.5, .5) -> 0.5.
    TAR@FAR=0.4 -> best TAR among FAR <= .4 = 0.5; TAR@FAR=0.5 -> 1.0.
    Accuracy: accept >= .9 -> 3/4, >= .6 -> 3/4 (tie, strictest wins), so the
    threshold is midway between .9 and the next score .7 = 0.8.
    FAR = 0: the most permissive threshold with no impostor accepted = 0.9.
    """
    s, y = [0.9, 0.7, 0.6, 0.2], [1, 0, 1, 0]
    curve = ev.roc(s, y)
    np.testing.assert_allclose(curve.far, [0, 0, 0.5, 0.5, 1])
    np.testing.assert_allclose(curve.tar, [0, 0.5, 0.5, 1, 1])
    np.testing.assert_allclose(curve.thresholds[1:], [0.9, 0.7, 0.6, 0.2])
    assert ev.eer(s, y) == pytest.approx(0.5)
    assert ev.tar_at_far(s, y, 0.4) == pytest.approx(0.5)
    assert ev.tar_at_far(s, y, 0.5) == pytest.approx(1.0)
    assert ev.calibrate_threshold(s, y) == pytest.approx(0.8)
    assert ev.calibrate_threshold(s, y, rule=("far", 0.0)) == pytest.approx(0.9)
    report = ev.verification_report(s, y, s, y)
    assert report["roc_auc"] == pytest.approx(0.75)
    assert report["test_accuracy"] == pytest.approx(0.75)


def test_eer_interpolates_along_the_crossing_segment():
    """genuine [0.9, 0.3], impostor [0.8, 0.6, 0.1]: ROC (0,0) (0,.5) (1/3,.5)
    (2/3,.5) (2/3,1) (1,1). FRR - FAR = 1, .5, 1/6, -1/6, ...: it crosses 0
    halfway along the flat segment FAR 1/3 -> 2/3 where FRR = .5, so EER = 0.5
    although no threshold gives FAR = 0.5 exactly."""
    s, y = [0.9, 0.8, 0.6, 0.3, 0.1], [1, 0, 0, 1, 0]
    assert ev.eer(s, y) == pytest.approx(0.5)


def test_less_direction_mirrors_greater():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    s = rng.normal(size=200) + 1.5 * y
    a = ev.verification_report(s, y, s, y, "greater")
    b = ev.verification_report(-s, y, -s, y, "less")
    assert b["threshold"] == pytest.approx(-a["threshold"])
    for key in ("test_accuracy", "roc_auc", "eer", "tar_at_far_1e-2", "tar_at_far_1e-3"):
        assert b[key] == pytest.approx(a[key])


def test_threshold_is_calibrated_on_validation_not_test():
    """Validation separates at 0.5, test at 0.8: the report keeps 0.5 and
    measures test accuracy there (4 of 5 test pairs right)."""
    val_s, val_y = [0.2, 0.4, 0.6, 0.9], [0, 0, 1, 1]
    test_s, test_y = [0.1, 0.7, 0.75, 0.85, 0.95], [0, 0, 0, 1, 1]
    report = ev.verification_report(val_s, val_y, test_s, test_y)
    assert report["threshold"] == pytest.approx(0.5)
    assert report["calibrated_on"] == "validation"
    assert report["val_accuracy"] == 1.0
    assert report["test_accuracy"] == pytest.approx(0.6)
    assert ev.calibrate_threshold(test_s, test_y) == pytest.approx(0.8)


def test_far_rule_threshold_keeps_far_on_validation():
    rng = np.random.default_rng(1)
    y = np.r_[np.ones(300, int), np.zeros(1000, int)]
    s = rng.normal(size=y.size) + 2 * y
    t = ev.calibrate_threshold(s, y, rule=("far", 1e-2))
    far = np.mean(s[y == 0] >= t)
    assert far <= 1e-2
    assert np.mean(s[y == 1] >= t) == pytest.approx(ev.tar_at_far(s, y, 1e-2))


@pytest.mark.parametrize("func, args, kwargs, match", [
    (ev.roc, ([0.1, 0.2], [1, 0, 1]), {}, "shape"),
    (ev.roc, ([0.1, 0.2], [1, 2]), {}, r"\{0, 1\}"),
    (ev.roc, ([0.1, float("nan")], [1, 0]), {}, "NaN"),
    (ev.roc, ([], []), {}, "non-empty"),
    (ev.roc, ([0.1, 0.2], [1, 1]), {}, "both"),
    (ev.roc, ([0.1, 0.2], [1, 0]), {"direction": "up"}, "direction"),
    (ev.tar_at_far, ([0.1, 0.2], [1, 0]), {"far": 2.0}, "far"),
    (ev.calibrate_threshold, ([0.1, 0.2], [1, 0]), {"rule": "f1"}, "rule"),
    (ev.verification_report, ([0.1, 0.2], [1, 0], [0.3], [1, 0]), {}, "shape"),
])
def test_verification_input_errors(func, args, kwargs, match):
    with pytest.raises(ValueError, match=match) as info:
        func(*args, **kwargs)
    assert "Received" in str(info.value)


def test_plots_are_written_atomically(tmp_path):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 100)
    path = ev.plot_roc(rng.normal(size=100) + y, y, tmp_path / "plots" / "roc.png")
    emb = ev.plot_embedding_2d(rng.normal(size=(60, 8)), rng.integers(0, 4, 60),
                               tmp_path / "plots" / "embedding.png")
    for p in (path, emb):
        data = p.read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 1000
    assert sorted(f.name for f in (tmp_path / "plots").iterdir()) == ["embedding.png", "roc.png"]


# --- retrieval ---------------------------------------------------------------------


def brute_force(q, ql, g, gl, ks, distance, exclude_self):
    """Recall@K and MAP@R by sorting every query's candidates, with loops."""
    recalls, aps = {k: [] for k in ks}, []
    for i in range(len(q)):
        cand = [j for j in range(len(g)) if not (exclude_self and j == i)]
        if distance == "cosine":
            dist = [1 - q[i] @ g[j] / np.linalg.norm(q[i]) / np.linalg.norm(g[j]) for j in cand]
        else:
            dist = [math.sqrt(np.sum((q[i] - g[j]) ** 2)) for j in cand]
        ranked = [cand[j] for j in np.argsort(dist, kind="stable")]
        rel = [gl[j] == ql[i] for j in ranked]
        r = sum(rel)
        if r == 0:
            continue
        for k in ks:
            recalls[k].append(any(rel[:k]))
        aps.append(sum(sum(rel[:m]) / m for m in range(1, r + 1) if rel[m - 1]) / r)
    out = {f"recall@{k}": float(np.mean(recalls[k])) if aps else 0.0 for k in ks}
    out["map@r"] = float(np.mean(aps)) if aps else 0.0
    out["num_queries"] = len(aps)
    return out


@st.composite
def labelled_points(draw):
    n = draw(st.integers(2, 30))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    dim, classes = draw(st.integers(2, 5)), draw(st.integers(1, 6))
    # D >= 2: continuous points never tie (ties: see test_ties_are_pessimistic).
    return rng.normal(size=(n, dim)), rng.integers(0, classes, n)


@FAST
@given(labelled_points(), st.sampled_from(["cosine", "euclidean"]), st.integers(1, 7))
def test_retrieval_matches_brute_force(points, distance, block_size):
    x, y = points
    ks = (1, 2, 5)
    got = ev.retrieval_report(x, y, ks=ks, distance=distance, block_size=block_size)
    want = brute_force(x, y, x, y, ks, distance, exclude_self=True)
    assert got["num_queries"] == want["num_queries"]
    assert got["num_skipped"] == len(x) - want["num_queries"]
    for key in want:
        assert got[key] == pytest.approx(want[key], abs=1e-12)


@FAST
@given(labelled_points(), labelled_points(), st.sampled_from(["cosine", "euclidean"]))
def test_gallery_retrieval_matches_brute_force(queries, gallery, distance):
    (q, ql), (g, gl) = queries, gallery
    dim = min(q.shape[1], g.shape[1])
    q, g = q[:, :dim], g[:, :dim]
    got = ev.gallery_retrieval_report(q, ql, g, gl, ks=(1, 3), distance=distance, block_size=4)
    want = brute_force(q, ql, g, gl, (1, 3), distance, exclude_self=False)
    for key in want:
        assert got[key] == pytest.approx(want[key], abs=1e-12)


def test_retrieval_hand_values():
    """1-D x = [0, 1, 3, 7, 8], labels [0, 0, 1, 1, 0], Euclidean.
    q0: 1+ 3- 7- 8+ (R=2) -> AP (1/1) / 2 = .5;  q1: 0+ 3- 7- 8+ -> .5;
    q2: 1- 0- 7+ (R=1) -> 0;  q3: 8- 3+ (R=1) -> 0;  q4: 7- 3- 1+ 0+ (R=2) -> 0.
    MAP@R = 1/5 = 0.2. Recall@1 = 2/5 (q0, q1), @2 = 3/5 (+ q3), @3 = 1.
    """
    x = np.array([[0.0], [1.0], [3.0], [7.0], [8.0]])
    got = ev.retrieval_report(x, [0, 0, 1, 1, 0], ks=(1, 2, 3), distance="euclidean")
    assert got == pytest.approx({"recall@1": 0.4, "recall@2": 0.6, "recall@3": 1.0,
                                 "map@r": 0.2, "num_queries": 5, "num_skipped": 0})


def test_query_is_not_its_own_neighbour():
    """x = [0, 0.1, 5], labels [0, 1, 0]: counting itself, q0 would hit at
    K=1; its nearest other item is 0.1 (label 1), a miss. Duplicated
    embeddings of one label still count as each other's neighbours."""
    got = ev.retrieval_report([[0.0], [0.1], [5.0]], [0, 1, 0], ks=(1, 2), distance="euclidean")
    assert got["recall@1"] == 0.0 and got["recall@2"] == 1.0 and got["num_skipped"] == 1
    dup = ev.retrieval_report(np.ones((3, 2)), [0, 1, 2], ks=(1,))
    assert dup["num_queries"] == 0 and dup["recall@1"] == 0.0
    twins = ev.retrieval_report([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]], [0, 0, 1], ks=(1,))
    assert twins["recall@1"] == 1.0 and twins["num_skipped"] == 1


def test_ties_are_pessimistic():
    """Collapsed embeddings sorted by label: index order would make every
    nearest neighbour a hit; pessimistic ties make Recall@1 and MAP@R 0."""
    got = ev.retrieval_report(np.ones((6, 3)), [0, 0, 0, 1, 1, 1], ks=(1, 3, 5))
    assert got["recall@1"] == 0.0 and got["recall@3"] == 0.0 and got["map@r"] == 0.0
    assert got["recall@5"] == 1.0


def test_retrieval_input_errors():
    with pytest.raises(ValueError, match="Received"):
        ev.retrieval_report(np.ones((3, 2)), [0, 1])
    with pytest.raises(ValueError, match="distance"):
        ev.retrieval_report(np.ones((3, 2)), [0, 1, 0], distance="l1")
    with pytest.raises(ValueError, match="ks"):
        ev.retrieval_report(np.ones((3, 2)), [0, 1, 0], ks=(0,))
    with pytest.raises(ValueError, match="finite"):
        ev.retrieval_report(np.full((3, 2), np.nan), [0, 1, 0])
    with pytest.raises(ValueError, match="non-empty"):
        ev.retrieval_report(np.zeros((0, 2)), [])


# --- one-shot ------------------------------------------------------------------------


def negative_abs_difference(a, b):
    return -np.abs(a - b).sum(axis=tuple(range(1, a.ndim)))


def test_n_way_accuracy_hand_values():
    """Run 0: support [0, 5, 10]; queries 1, 6, 9, 4 with answers 0, 1, 2, 0:
    4 is nearer 5 than 0, so 3/4. Run 1: every query sits on its support: 1.
    Overall (3 + 4) / 8 = 0.875."""
    support = np.array([[[0.0], [5.0], [10.0]], [[0.0], [5.0], [10.0]]])
    queries = np.array([[[1.0], [6.0], [9.0], [4.0]], [[0.0], [5.0], [10.0], [5.0]]])
    answers = np.array([[0, 1, 2, 0], [0, 1, 2, 1]])
    result = ev.n_way_accuracy(support, queries, answers, distance="euclidean")
    assert result.accuracy == pytest.approx(0.875)
    np.testing.assert_allclose(result.per_run, [0.75, 1.0])
    scores = ev.pairwise_scores(negative_abs_difference, support, queries)
    assert scores.shape == (2, 4, 3)
    assert ev.n_way_accuracy_from_scores(scores, answers).accuracy == pytest.approx(0.875)


def test_n_way_ties_score_chance():
    """A collapsed model (all supports equal) earns 1/N per query, not 100 %."""
    support = np.ones((1, 5, 3))
    queries = np.ones((1, 4, 3))
    assert ev.n_way_accuracy(support, queries, np.zeros((1, 4), int)).accuracy == pytest.approx(0.2)


def test_n_way_input_errors():
    with pytest.raises(ValueError, match="answers"):
        ev.n_way_accuracy_from_scores(np.zeros((1, 2, 3)), np.array([[0, 3]]))
    with pytest.raises(ValueError, match="shape"):
        ev.n_way_accuracy_from_scores(np.zeros((1, 2, 3)), np.array([0, 1]))
    with pytest.raises(ValueError, match="finite"):
        ev.n_way_accuracy_from_scores(np.full((1, 2, 3), np.nan), np.array([[0, 1]]))


# --- identification ---------------------------------------------------------------------


def test_identification_hand_values():
    """Gallery 1-D [0 (A), 10 (B)], Euclidean, score = -distance.
    Genuine probes: 1 (A) -> A, -1;  8 (B) -> B, -2;  14 (B) -> B, -4;
    6 (A) -> B (wrong), -4. Impostors: 2.5 (C) -> -2.5;  20 (D) -> -10.
    Closed set on the genuine probes: 3/4.
    FAR 0: threshold just above -2.5 -> only 1 and 8 pass -> DIR 2/4.
    FAR 0.5: one impostor may pass -> just above -10 -> DIR 3/4, FAR 0.5.
    """
    g, gl = [[0.0], [10.0]], ["A", "B"]
    p = [[1.0], [8.0], [14.0], [6.0], [2.5], [20.0]]
    pl = ["A", "B", "B", "A", "C", "D"]
    assert ev.closed_set_top1(g, gl, p[:4], pl[:4], distance="euclidean") == pytest.approx(0.75)
    strict = ev.open_set_dir_at_far(g, gl, p, pl, far=0.0, distance="euclidean")
    assert strict["dir"] == pytest.approx(0.5) and strict["far"] == 0.0
    assert -2.5 < strict["threshold"] < -1.999
    loose = ev.open_set_dir_at_far(g, gl, p, pl, far=0.5, distance="euclidean")
    assert loose["dir"] == pytest.approx(0.75) and loose["far"] == pytest.approx(0.5)
    assert loose["num_genuine"] == 4 and loose["num_impostor"] == 2


def test_identification_input_errors():
    g, gl = np.eye(2), [0, 1]
    with pytest.raises(ValueError, match="open_set_dir_at_far"):
        ev.closed_set_top1(g, gl, np.eye(2), [0, 5])
    with pytest.raises(ValueError, match="impostor"):
        ev.open_set_dir_at_far(g, gl, np.eye(2), [0, 1])
    with pytest.raises(ValueError, match="dimension"):
        ev.closed_set_top1(g, gl, np.ones((2, 3)), [0, 1])
