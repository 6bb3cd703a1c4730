"""N-way one-shot accuracy (Omniglot-style tasks).

Each run has N support items (one per class) and Q queries; answers[r, q] is
the index in [0, N) of the support item sharing query q's class. A query is
answered by its nearest support item (embeddings) or its highest score
(verify-style models). Ties are scored fairly: if the answer is among m
tied best, the query counts 1/m (the expectation of a random tie-break), so
a collapsed model scores chance, never 100 %.
"""

from typing import NamedTuple

import numpy as np

from zoo.evaluation import _checks
from zoo.evaluation.retrieval import distance_matrix


class OneShotResult(NamedTuple):
    """accuracy: mean over all queries of all runs; per_run: [runs]."""

    accuracy: float
    per_run: np.ndarray


def _check_answers(answers, runs, q, n):
    a = np.asarray(answers)
    if a.shape != (runs, q):
        raise ValueError(f"answers must have shape [runs, Q] = {(runs, q)}. "
                         f"Received: answers with shape={a.shape}")
    if not np.issubdtype(a.dtype, np.integer) or a.min() < 0 or a.max() >= n:
        raise ValueError(f"answers must be integer support indices in [0, {n}). "
                         f"Received: answers with values {np.unique(a)[:8]}")
    return a


def n_way_accuracy_from_scores(scores, answers):
    """One-shot accuracy from a score matrix (higher = more similar).

    Args:
        scores: [runs, Q, N], e.g. from `pairwise_scores`.
        answers: [runs, Q] indices of the correct support item.

    Returns:
        `OneShotResult(accuracy, per_run)`.
    """
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 3 or 0 in s.shape:
        raise ValueError(f"scores must be a non-empty [runs, Q, N] array. "
                         f"Received: scores with shape={s.shape}")
    if not np.all(np.isfinite(s)):
        raise ValueError("scores must be finite; check the model output. "
                         f"Received: {int(np.sum(~np.isfinite(s)))} non-finite scores")
    runs, q, n = s.shape
    a = _check_answers(answers, runs, q, n)
    best = s.max(axis=2, keepdims=True)
    is_best = s == best
    credit = np.take_along_axis(is_best, a[..., None], axis=2)[..., 0] / is_best.sum(axis=2)
    per_run = credit.mean(axis=1)
    return OneShotResult(float(credit.mean()), per_run)


def n_way_accuracy(support_embeddings, query_embeddings, answers, distance="euclidean"):
    """One-shot accuracy by nearest support embedding.

    Args:
        support_embeddings: [runs, N, D].
        query_embeddings: [runs, Q, D].
        answers: [runs, Q] indices into the N support items.
        distance: "euclidean" or "cosine".

    Returns:
        `OneShotResult(accuracy, per_run)`.
    """
    sup = np.asarray(support_embeddings, dtype=np.float64)
    qry = np.asarray(query_embeddings, dtype=np.float64)
    distance = _checks.distance(distance)
    if (sup.ndim != 3 or qry.ndim != 3 or sup.shape[0] != qry.shape[0]
            or sup.shape[2] != qry.shape[2]):
        raise ValueError("support_embeddings [runs, N, D] and query_embeddings [runs, Q, D] "
                         "must agree on runs and D. Received: shapes "
                         f"{sup.shape} and {qry.shape}")
    _checks.embeddings(sup.reshape(-1, sup.shape[-1]), "support_embeddings")
    _checks.embeddings(qry.reshape(-1, qry.shape[-1]), "query_embeddings")
    scores = np.stack([-distance_matrix(qr, sr, distance) for qr, sr in zip(qry, sup)])
    return n_way_accuracy_from_scores(scores, answers)


def pairwise_scores(score_fn, support, queries):
    """The [runs, Q, N] score matrix of a pair model, one call per run.

    Args:
        score_fn: maps two batches [M, ...] (query, support) to scores [M],
            higher = more similar, e.g. a verify model's predict.
        support: [runs, N, ...] inputs.
        queries: [runs, Q, ...] inputs.
    """
    support, queries = np.asarray(support), np.asarray(queries)
    if support.ndim < 2 or queries.ndim < 2 or support.shape[0] != queries.shape[0]:
        raise ValueError("support [runs, N, ...] and queries [runs, Q, ...] must agree on "
                         f"runs. Received: shapes {support.shape} and {queries.shape}")
    runs, n, q = support.shape[0], support.shape[1], queries.shape[1]
    out = np.empty((runs, q, n), dtype=np.float64)
    for r in range(runs):
        a = np.repeat(queries[r], n, axis=0)          # q0 q0 .. q1 q1 ..
        b = np.tile(support[r], (q,) + (1,) * (support.ndim - 2))  # s0 s1 .. s0 s1 ..
        out[r] = np.asarray(score_fn(a, b), dtype=np.float64).reshape(q, n)
    return out
