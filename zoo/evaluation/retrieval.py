"""Retrieval metrics: Recall@K and MAP@R, blockwise in NumPy, and a 2-D plot.

Recall@K: a query is a hit when any of its K nearest neighbours shares its
label. MAP@R (Musgrave et al. 2020, "A Metric Learning Reality Check"): with
R = the number of candidates sharing the query's label,
    MAP@R = 1/R * sum_{i=1..R} P(i) * rel(i),
P(i) = precision of the first i neighbours, rel(i) = 1 if the i-th is
relevant. Queries with R = 0 cannot be scored: they are left out of both
metrics and counted in "num_skipped". Ties are broken pessimistically: an
item of the query's label ranks after an equally distant one of another
label, so identical (collapsed) embeddings score low, never high by luck.

Queries are processed `block_size` rows at a time: memory is
O(block_size * num_candidates), so 10k x 10k needs ~40 MB per block.
"""

import numpy as np
from sklearn.decomposition import PCA

from zoo.evaluation import _checks, _plot


def distance_matrix(queries, candidates, distance="cosine"):
    """[Q, M] float64 distances used for ranking.

    "cosine": 1 - cos; "euclidean": squared Euclidean (same ranking as
    Euclidean, no sqrt).
    """
    q = np.asarray(queries, dtype=np.float64)
    c = np.asarray(candidates, dtype=np.float64)
    if distance == "cosine":
        qn = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)
        cn = c / np.maximum(np.linalg.norm(c, axis=1, keepdims=True), 1e-12)
        return 1.0 - qn @ cn.T
    sq = (q * q).sum(1)[:, None] + (c * c).sum(1)[None, :] - 2.0 * q @ c.T
    return np.maximum(sq, 0.0)


def _check_ks(ks):
    ks = tuple(int(k) for k in np.atleast_1d(ks))
    if not ks or min(ks) < 1:
        raise ValueError(f"ks must be positive integers, e.g. (1, 5, 10). Received: ks={ks!r}")
    return ks


def _ranked_report(q, q_labels, g, g_labels, ks, distance, block_size, exclude_self):
    ks = _check_ks(ks)
    distance = _checks.distance(distance)
    if int(block_size) < 1:
        raise ValueError(f"block_size must be >= 1. Received: block_size={block_size!r}")
    n_cand = g.shape[0] - int(exclude_self)
    uniq, g_counts = np.unique(g_labels, return_counts=True)
    pos = np.searchsorted(uniq, q_labels).clip(0, uniq.size - 1)
    r = np.where(uniq[pos] == q_labels, g_counts[pos], 0) - int(exclude_self)
    need = min(n_cand, max(max(ks), int(r.max(initial=0))))
    hits = {k: 0 for k in ks}
    ap_sum, n_valid = 0.0, 0
    for start in range(0, q.shape[0], int(block_size)):
        stop = min(start + int(block_size), q.shape[0])
        valid = r[start:stop] > 0
        if not valid.any() or need == 0:
            continue
        d = distance_matrix(q[start:stop], g, distance)
        d, block_labels = d[valid], q_labels[start:stop][valid]
        if exclude_self:
            rows = np.flatnonzero(valid)
            d[np.arange(rows.size), start + rows] = np.inf  # never its own neighbour
        # Pessimistic ties: a relevant item sorts after an equally distant
        # irrelevant one, so a collapsed embedding cannot score by luck.
        relevant = g_labels[None, :] == block_labels[:, None]
        d = np.where(relevant, np.nextafter(d, np.inf), d)
        top = np.argpartition(d, need - 1, axis=1)[:, :need] if need < d.shape[1] else \
            np.broadcast_to(np.arange(d.shape[1]), d.shape)
        order = np.argsort(np.take_along_axis(d, top, axis=1), axis=1, kind="stable")
        nearest = np.take_along_axis(top, order, axis=1)  # [b, need], closest first
        rel = np.take_along_axis(relevant, nearest, axis=1)
        for k in ks:
            hits[k] += int(rel[:, :k].any(axis=1).sum())
        rv = r[start:stop][valid]
        ranks = np.arange(1, need + 1)
        precision = np.cumsum(rel, axis=1) / ranks
        within_r = ranks[None, :] <= rv[:, None]
        ap_sum += float(((precision * rel * within_r).sum(axis=1) / rv).sum())
        n_valid += int(valid.sum())
    report = {f"recall@{k}": hits[k] / n_valid if n_valid else 0.0 for k in ks}
    report["map@r"] = ap_sum / n_valid if n_valid else 0.0
    report["num_queries"] = n_valid
    report["num_skipped"] = int(q.shape[0] - n_valid)
    return report


def retrieval_report(embeddings, labels, ks=(1, 5, 10), distance="cosine", block_size=512):
    """Leave-one-out retrieval within one set: each item queries all others.

    The query itself is excluded from its neighbours (by index, so exact
    duplicates of it still count). K larger than N - 1 means "all others".

    Args:
        embeddings: [N, D].
        labels: [N] class labels.
        ks: the K values of Recall@K.
        distance: "cosine" or "euclidean".
        block_size: queries per block.

    Returns:
        {"recall@K" for K in ks, "map@r", "num_queries", "num_skipped"}.
    """
    x = _checks.embeddings(embeddings)
    y = _checks.class_labels(labels, x.shape[0])
    return _ranked_report(x, y, x, y, ks, distance, block_size, exclude_self=True)


def gallery_retrieval_report(query_embeddings, query_labels, gallery_embeddings,
                             gallery_labels, ks=(1, 5, 10), distance="cosine", block_size=512):
    """Retrieval of separate queries against a gallery (nothing is excluded).

    Args:
        query_embeddings: [Q, D]; query_labels: [Q].
        gallery_embeddings: [M, D]; gallery_labels: [M].
        ks, distance, block_size: as in `retrieval_report`.

    Returns:
        As `retrieval_report`; R counts gallery items with the query's label.
    """
    q, ql, g, gl = _checks.labelled_sets(query_embeddings, query_labels, gallery_embeddings,
                                         gallery_labels, ("query", "gallery"))
    return _ranked_report(q, ql, g, gl, ks, distance, block_size, exclude_self=False)


def plot_embedding_2d(embeddings, labels, path, title="Embedding (PCA)"):
    """Scatter of a 2-D PCA projection, coloured by label, saved as a PNG.

    Args:
        embeddings: [N, D] with N >= 2 and D >= 2.
        labels: [N] class labels.
        path: the PNG file; written atomically.
        title: the plot title.

    Returns:
        The written path.
    """
    x = _checks.embeddings(embeddings)
    y = _checks.class_labels(labels, x.shape[0])
    if x.shape[0] < 2 or x.shape[1] < 2:
        raise ValueError("plot_embedding_2d needs at least 2 points of dimension >= 2. "
                         f"Received: embeddings with shape={x.shape}")
    xy = PCA(n_components=2, random_state=0).fit_transform(x)
    classes, idx = np.unique(y, return_inverse=True)
    fig, ax = _plot.new_figure((5.5, 5.0))
    cmap = "tab10" if classes.size <= 10 else "tab20"
    points = ax.scatter(xy[:, 0], xy[:, 1], c=idx, cmap=cmap, s=6, alpha=0.7, linewidths=0)
    if classes.size <= 20:
        handles, _ = points.legend_elements(num=list(range(classes.size)))
        ax.legend(handles, [str(c) for c in classes], fontsize=7, markerscale=0.8,
                  loc="best", title="label")
    ax.set(xlabel="PC 1", ylabel="PC 2", title=title)
    return _plot.save_png(fig, path)
