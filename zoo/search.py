"""Exact top-k search over people: groups of enrolled vectors (for `zoo.retrieval`).

A person's score is their best vector's score: the largest cosine similarity
(vectors are unit rows) or the smallest Euclidean distance. People are ranked
by score, ties by index, exactly as a float64 brute force over every person
ranks them.

NumPy (`numpy_top_k`) runs in two steps:

1. Candidates in float32. The gallery is streamed in tiles of rows; one
   float32 matrix product scores a tile against a block of queries, and a
   running top-(k + SLACK) per query is merged with only the tile entries
   that beat its current last one (few, once a few tiles are seen). While
   that top is empty or weak, a tile is first filtered by a floor taken from
   the maxima of disjoint chunks of its rows. The ranking key is q.g for
   cosine and q.g - |g|^2 / 2 for euclidean (higher = closer).
2. Decisions in float64. The candidates are rescored in float64 (euclidean:
   |q - g| directly, so an enrolled vector is at distance 0) and ordered by
   score, then index. A float32 key is within eps = 2 (D + 2) u (|q| |g|max,
   + |g|max^2 / 2 for euclidean) of the exact one: twice the standard bound
   for a D-term dot product in any summation order, u = 2^-24. So when the
   k-th candidate's key beats the last candidate's by more than 2 eps, no
   person outside the candidates can enter the top k and the answer is the
   float64 one. Queries without that margin (near-duplicate vectors of many
   people) are answered by a float64 brute force.

faiss (`faiss_top_k`) searches a flat index (`IndexFlatIP` on unit rows,
`IndexFlatL2`) in float32: the same people in the same order except for
near-ties within ~1e-6, and scores that agree to ~1e-6.
"""

from __future__ import annotations

import dataclasses

import numpy as np

__all__ = ["Groups", "faiss_index", "faiss_top_k", "numpy_top_k"]

SLACK = 8  # float32 candidates kept per query beyond k, to be decided in float64
TILE_ROWS = 4096  # gallery rows per float32 score tile (x QUERY_BLOCK queries: 16 MB)
QUERY_BLOCK = 1024  # queries that share one pass over the gallery
CROWDED = 4  # more new entries than this x the running top: filter the tile by its `_floor`
_U32 = 2.0 ** -24  # float32 unit roundoff
_FALLBACK_ELEMENTS = 1 << 22  # float64 brute force: query block x people per score block
_RESCORE_ROWS = 1 << 16  # float64 rows gathered at once to rescore candidates (4 MB per 8 dims)


@dataclasses.dataclass(frozen=True, eq=False)
class Groups:
    """Enrolled vectors, one contiguous run of rows per person.

    Attributes:
        matrix: [M, D] float32 rows, person by person.
        starts: [P] first row of each person.
        counts: [P] rows of each person.
        owner: [M] person of each row.
        norms: [M] float64 row norms.
    """

    matrix: np.ndarray
    starts: np.ndarray
    counts: np.ndarray
    owner: np.ndarray
    norms: np.ndarray

    @classmethod
    def build(cls, matrix, counts=None) -> Groups:
        """Groups over `matrix` [M, D]; `counts` [P] rows per person (None: one each).

        Args:
            matrix: float32 rows (other dtypes are converted).
            counts: positive ints summing to M; None makes each row a person.
        """
        matrix = np.ascontiguousarray(matrix, dtype=np.float32)
        if matrix.ndim != 2 or 0 in matrix.shape:
            raise ValueError(f"matrix must be a non-empty [M, D] array. "
                             f"Received: shape={matrix.shape}")
        m = matrix.shape[0]
        counts = np.ones(m, np.int64) if counts is None else np.asarray(counts, np.int64)
        if counts.ndim != 1 or counts.size == 0 or (counts < 1).any() or counts.sum() != m:
            raise ValueError(f"counts must be positive ints, one per person, summing to the {m} "
                             f"rows. Received: counts={counts}")
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        norms = np.sqrt(np.einsum("ij,ij->i", matrix, matrix, dtype=np.float64))
        return cls(matrix, starts, counts, np.repeat(np.arange(counts.size), counts), norms)

    @property
    def size(self) -> int:
        """The number of people P."""
        return self.counts.size

    @property
    def max_count(self) -> int:
        return int(self.counts.max())


# -- NumPy ------------------------------------------------------------------------


def numpy_top_k(groups, queries, k, distance="cosine") -> tuple:
    """The k best people of each query, exactly (see the module docstring).

    Args:
        groups: a `Groups`.
        queries: [Q, D] float32 (unit rows for cosine).
        k: people per query, 1 <= k <= groups.size.
        distance: "cosine" (higher = closer) or "euclidean" (lower = closer).

    Returns:
        `(people [Q, k] int64, scores [Q, k] float64)`, best first.
    """
    _check(groups, queries, k, distance)
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    wide = min(k + SLACK, groups.size)
    people, keys = _float32_candidates(groups, queries, wide, distance)
    people, scores = _decide(groups, queries, people, k, distance)
    unsure = ~_margin_holds(groups, queries, keys, k, distance)
    if unsure.any():
        people[unsure], scores[unsure] = _float64_brute_force(groups, queries[unsure], k,
                                                              distance)
    return people, scores


def _check(groups, queries, k, distance):
    if distance not in ("cosine", "euclidean"):
        raise ValueError(f"distance must be 'cosine' or 'euclidean'. Received: {distance!r}")
    if np.ndim(queries) != 2 or np.shape(queries)[1] != groups.matrix.shape[1]:
        raise ValueError(f"queries must be [Q, {groups.matrix.shape[1]}]. "
                         f"Received: shape={np.shape(queries)}")
    if not 1 <= k <= groups.size:
        raise ValueError(f"k must be in [1, {groups.size}] (the people). Received: k={k}")


def _tiles(groups):
    """(first person, end person, first row, end row) of each tile of about
    TILE_ROWS rows; a tile never splits a person."""
    ends = groups.starts + groups.counts
    p0 = 0
    while p0 < groups.size:
        r0 = groups.starts[p0]
        p1 = max(p0 + 1, int(np.searchsorted(ends, r0 + TILE_ROWS, side="right")))
        yield p0, p1, r0, ends[p1 - 1]
        p0 = p1


def _tile_keys(groups, r0, r1, p0, p1, query_t, distance, out=None):
    """[people p0..p1, queries] ranking keys (higher = closer) of one tile."""
    tile = groups.matrix[r0:r1]
    if query_t.dtype != tile.dtype:
        tile = tile.astype(query_t.dtype)
    if out is not None and out.shape[0] >= r1 - r0:
        keys = np.matmul(tile, query_t, out=out[:r1 - r0])
    else:
        keys = tile @ query_t
    if distance == "euclidean":
        keys -= (0.5 * groups.norms[r0:r1] ** 2).astype(keys.dtype)[:, None]
    if r1 - r0 > p1 - p0:  # someone has several rows: their best one counts
        keys = np.maximum.reduceat(keys, groups.starts[p0:p1] - r0, axis=0)
    return keys


def _float32_candidates(groups, queries, wide, distance):
    """The `wide` best people per query by float32 key: (people, keys) [Q, wide]."""
    people = np.empty((queries.shape[0], wide), np.int64)
    keys = np.empty((queries.shape[0], wide), np.float32)
    for q0 in range(0, queries.shape[0], QUERY_BLOCK):
        query_t = np.ascontiguousarray(queries[q0:q0 + QUERY_BLOCK].T)
        best_k = np.full((query_t.shape[1], wide), -np.inf, np.float32)
        best_p = np.full((query_t.shape[1], wide), -1, np.int64)
        scores = np.empty((TILE_ROWS, query_t.shape[1]), np.float32)
        passes = np.empty((TILE_ROWS, query_t.shape[1]), bool)
        for p0, p1, r0, r1 in _tiles(groups):
            tile = _tile_keys(groups, r0, r1, p0, p1, query_t, distance, scores)
            mask = passes[:tile.shape[0]] if tile.shape[0] <= TILE_ROWS else None
            last = best_k[:, -1].copy()
            hits = np.flatnonzero(np.greater(tile, last, out=mask)) if best_p[0, -1] >= 0 \
                else None  # the running top is full once every query has seen `wide` people
            if hits is None or hits.size > CROWDED * best_k.size:
                floor = np.maximum(_floor(tile, wide), last)
                hits = np.flatnonzero(np.greater_equal(tile, floor, out=mask))
            if hits.size:
                _merge(best_k, best_p, tile, p0, hits)
        people[q0:q0 + QUERY_BLOCK], keys[q0:q0 + QUERY_BLOCK] = best_p, best_k
    return people, keys


def _floor(tile, wide):
    """[queries] a key at most the `wide`-th best of each tile column: the
    `wide`-th best of the maxima of 4 * wide disjoint chunks of rows (each
    maximum is a distinct entry), or -inf when the tile is that small."""
    chunks = 4 * wide
    if tile.shape[0] < 2 * chunks:
        return np.full(tile.shape[1], -np.inf, tile.dtype)
    rows = tile.shape[0] // chunks
    maxima = tile[:chunks * rows].reshape(chunks, rows, -1).max(axis=1)
    return np.partition(maxima, chunks - wide, axis=0)[chunks - wide]


def _merge(best_k, best_p, tile, p0, hits):
    """Merge the tile entries `hits` (flat indices) into the running top-`wide`, in place."""
    wide = best_k.shape[1]
    person, query = np.divmod(hits, tile.shape[1])
    order = np.argsort(query, kind="stable")
    person, query = person[order], query[order]
    first = np.flatnonzero(np.concatenate([[True], query[1:] != query[:-1]]))
    touched, count = query[first], np.diff(np.append(first, query.size))
    row = np.repeat(np.arange(touched.size), count)
    column = wide + np.arange(query.size) - np.repeat(first, count)
    keys = np.full((touched.size, wide + count.max()), -np.inf, np.float32)
    people = np.full(keys.shape, -1, np.int64)
    keys[:, :wide], people[:, :wide] = best_k[touched], best_p[touched]
    keys[row, column], people[row, column] = tile[person, query], person + p0
    top = np.argsort(-keys, axis=1)[:, :wide]
    best_k[touched] = np.take_along_axis(keys, top, axis=1)
    best_p[touched] = np.take_along_axis(people, top, axis=1)


def _margin_holds(groups, queries, keys, k, distance):
    """[Q] bool: no person outside the float32 candidates can enter the float64 top k."""
    if keys.shape[1] == groups.size:
        return np.ones(queries.shape[0], bool)
    gap = keys[:, k - 1].astype(np.float64) - keys[:, -1].astype(np.float64)
    return gap > 2.0 * _key_error(groups, queries, distance, _U32)  # NaN (overflow) is not


def _key_error(groups, queries, distance, unit):
    """[Q] bound on |computed - exact| key, twice the D-term dot product bound
    (D + 2) u (|q| |g|max + |g|max^2 / 2) for unit roundoff u."""
    g_max = groups.norms.max()
    bound = np.linalg.norm(queries.astype(np.float64), axis=1) * g_max
    if distance == "euclidean":
        bound = bound + 0.5 * g_max ** 2
    return 2.0 * (groups.matrix.shape[1] + 2) * unit * bound


def _rescore(groups, queries, people, distance):
    """[Q, n] float64 scores of `people` [Q, n]: each person's best row."""
    scores = np.empty(people.shape)
    per_chunk = max(1, _RESCORE_ROWS // (people.shape[1] * groups.max_count))
    for q0 in range(0, people.shape[0], per_chunk):
        chosen = people[q0:q0 + per_chunk]
        q64 = queries[q0:q0 + per_chunk].astype(np.float64)
        if groups.max_count == 1:  # one row each: [chunk, n, D]
            g64 = groups.matrix[groups.starts[chosen]].astype(np.float64)
            scores[q0:q0 + per_chunk] = (np.einsum("qnd,qd->qn", g64, q64)
                                         if distance == "cosine"
                                         else np.linalg.norm(g64 - q64[:, None], axis=2))
        else:
            scores[q0:q0 + per_chunk] = _rescore_rows(groups, q64, chosen, distance)
    return scores


def _rescore_rows(groups, q64, people, distance):
    """`_rescore` when people have several rows: every row, then each person's best."""
    chosen = people.ravel()
    counts = groups.counts[chosen]
    first = np.cumsum(counts) - counts
    rows = np.repeat(groups.starts[chosen] - first, counts) + np.arange(counts.sum())
    q64 = q64[np.repeat(np.arange(chosen.size) // people.shape[1], counts)]
    g64 = groups.matrix[rows].astype(np.float64)
    if distance == "cosine":
        best = np.maximum.reduceat(np.einsum("ij,ij->i", q64, g64), first)
    else:
        best = np.minimum.reduceat(np.linalg.norm(q64 - g64, axis=1), first)
    return best.reshape(people.shape)


def _decide(groups, queries, people, k, distance):
    """The k best of the candidate `people` by float64 score, ties by index."""
    scores = _rescore(groups, queries, people, distance)
    order = np.lexsort((people, -scores if distance == "cosine" else scores), axis=-1)[:, :k]
    return np.take_along_axis(people, order, axis=1), np.take_along_axis(scores, order, axis=1)


def _float64_brute_force(groups, queries, k, distance):
    """Every person's float64 key; those within the float64 error bound of the
    k-th best are rescored and ordered like `_decide` (exact ties by index)."""
    people = np.empty((queries.shape[0], k), np.int64)
    scores = np.empty((queries.shape[0], k))
    eps = _key_error(groups, queries, distance, 2.0 ** -53)
    block = max(1, _FALLBACK_ELEMENTS // groups.size)
    for q0 in range(0, queries.shape[0], block):
        query_t = queries[q0:q0 + block].astype(np.float64).T
        keys = np.concatenate([_tile_keys(groups, r0, r1, p0, p1, query_t, distance)
                               for p0, p1, r0, r1 in _tiles(groups)]).T
        for i, row in enumerate(keys, start=q0):
            kth = -np.partition(-row, k - 1)[k - 1]
            near = np.flatnonzero(row >= kth - 2.0 * eps[i])[None]
            chosen, best = _decide(groups, queries[i:i + 1], near, k, distance)
            people[i], scores[i] = chosen[0], best[0]
    return people, scores


# -- faiss ------------------------------------------------------------------------


def faiss_index(groups, distance):
    """A flat faiss index over `groups.matrix`: inner product (cosine) or L2."""
    import faiss

    index = (faiss.IndexFlatIP if distance == "cosine" else faiss.IndexFlatL2)(
        groups.matrix.shape[1])
    index.add(groups.matrix)
    return index


def faiss_top_k(groups, index, queries, k, distance="cosine") -> tuple:
    """`numpy_top_k` through a flat faiss index (float32 scores, see the module docstring).

    Args:
        groups: the `Groups` the index was built from.
        index: `faiss_index(groups, distance)`.
        queries, k, distance: as for `numpy_top_k`.
    """
    _check(groups, queries, k, distance)
    # A person's best vector ranks before their others, so the first k
    # distinct owners are the top-k people; this many vectors always hold k.
    n = min(groups.matrix.shape[0], (k - 1) * groups.max_count + 1)
    values, rows = index.search(np.ascontiguousarray(queries, dtype=np.float32), n)
    values = values.astype(np.float64)
    if distance == "euclidean":
        values = np.sqrt(np.maximum(values, 0.0))  # IndexFlatL2 returns squared distances
    if groups.max_count == 1:
        return groups.owner[rows], values
    ranked = np.empty((queries.shape[0], k), dtype=np.int64)
    scores = np.empty((queries.shape[0], k))
    for q in range(queries.shape[0]):
        owners = groups.owner[rows[q]]
        _, first = np.unique(owners, return_index=True)
        first = np.sort(first)[:k]
        ranked[q], scores[q] = owners[first], values[q, first]
    return ranked, scores
