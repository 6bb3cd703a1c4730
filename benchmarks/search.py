"""Gallery search at scale: top-10 cosine search over 10k, 100k and 1M x 64
float32 embeddings with the project's exact NumPy search, faiss flat,
scikit-learn brute force and faiss HNSW, against the issue's targets.

    python -m benchmarks.search [--sizes 10000 100000 1000000] [--queries 1000]
                                [--clusters 1000] [--ef-search 64] [--plot PATH]

Timings are measured on every run (there is nothing to read from cards);
each method searches the same query batch once, after a 10-query warm-up.
"""

import argparse
import os
import time
from pathlib import Path

import numpy as np

from benchmarks.common import markdown, verdict
from zoo import search
from zoo.retrieval import Gallery

SIZES = (10_000, 100_000, 1_000_000)
DIM, K, SEED = 64, 10, 0
QUERIES = 1000
CLUSTERS = 1000  # 0: uniform random unit vectors
SPREAD = 0.5  # noise norm around a cluster centre (cosine to the centre ~0.9)
HNSW_M, EF_CONSTRUCTION, EF_SEARCH = 32, 40, 64
RECALL_QUERIES = 100  # queries checked against a float64 brute force
GALLERY_PATH_MAX = 20_000  # also time Gallery.identify_embeddings up to this size
PLOT = Path(__file__).with_name("search.png")
METHODS = ("zoo exact (NumPy)", "faiss IndexFlatIP", "scikit-learn brute",
           f"faiss HNSW (M={HNSW_M})")


def embeddings(n, centers, rng, chunk=100_000) -> np.ndarray:
    """[n, D] float32 unit vectors: around random `centers`, or uniform if none.

    Args:
        n: how many.
        centers: [C, D] unit centres; C = 0 gives uniform directions.
        rng: a numpy Generator.
        chunk: rows drawn at a time (bounds the temporaries).
    """
    out = np.empty((n, centers.shape[1]), np.float32)
    for start in range(0, n, chunk):
        m = min(chunk, n - start)
        x = rng.standard_normal((m, centers.shape[1]), dtype=np.float32)
        if len(centers):
            x *= SPREAD / np.sqrt(centers.shape[1])
            x += centers[rng.integers(0, len(centers), m)]
        out[start:start + m] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def dataset(size, queries, clusters=CLUSTERS, dim=DIM, seed=SEED) -> tuple:
    """(gallery [size, dim], queries [queries, dim]) drawn around the same centres."""
    rng = np.random.default_rng(seed)
    centers = embeddings(clusters, np.zeros((0, dim), np.float32), rng)
    return embeddings(size, centers, rng), embeddings(queries, centers, rng)


def brute_force_top_k(gallery, queries, k=K, chunk=1 << 17) -> np.ndarray:
    """[Q, k] indices of the largest float64 inner products (the recall reference).

    Args:
        gallery: [M, D]; converted to float64 `chunk` rows at a time.
        queries: [Q, D] (a few hundred: scores are [Q, chunk] float64).
        k: neighbours per query.
        chunk: gallery rows per block.
    """
    q64 = queries.astype(np.float64)
    best_scores, best_rows = np.empty((len(queries), 0)), np.empty((len(queries), 0), np.int64)
    for start in range(0, len(gallery), chunk):
        scores = q64 @ gallery[start:start + chunk].astype(np.float64).T
        top = np.argpartition(-scores, min(k, scores.shape[1]) - 1, axis=1)[:, :k]
        best_scores = np.concatenate([best_scores, np.take_along_axis(scores, top, axis=1)], 1)
        best_rows = np.concatenate([best_rows, top + start], axis=1)
    order = np.argsort(-best_scores, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(best_rows, order, axis=1)


def recall_at_k(found, truth) -> float:
    """Mean fraction of each row of `truth` that `found` holds."""
    return float(np.mean([len(set(f) & set(t)) / len(t) for f, t in zip(found, truth)]))


def _timed(fn, *args):
    """(seconds, fn(*args))."""
    start = time.perf_counter()
    result = fn(*args)
    return time.perf_counter() - start, result


def _searchers(gallery, ef_search):
    """{method: (build() -> search(queries) -> [Q, K] indices)} in METHODS order."""
    import faiss
    from sklearn.neighbors import NearestNeighbors

    def exact():
        groups = search.Groups.build(gallery)  # each vector is its own person
        return lambda q: search.numpy_top_k(groups, q, K, "cosine")[0]

    def flat():
        index = faiss.IndexFlatIP(gallery.shape[1])
        index.add(gallery)
        return lambda q: index.search(q, K)[1]

    def sklearn():
        model = NearestNeighbors(n_neighbors=K, algorithm="brute", metric="cosine").fit(gallery)
        return lambda q: model.kneighbors(q, return_distance=False)

    def hnsw():
        index = faiss.IndexHNSWFlat(gallery.shape[1], HNSW_M, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = EF_CONSTRUCTION
        index.add(gallery)
        index.hnsw.efSearch = ef_search
        return lambda q: index.search(q, K)[1]

    return dict(zip(METHODS, (exact, flat, sklearn, hnsw)))


def measure(size, queries=QUERIES, clusters=CLUSTERS, ef_search=EF_SEARCH,
            recall_queries=RECALL_QUERIES) -> list:
    """One row per method at one gallery size.

    Args:
        size: gallery vectors.
        queries: the query batch size.
        clusters: cluster centres of the data (0: uniform).
        ef_search: HNSW search breadth.
        recall_queries: queries whose top 10 is checked against a float64
            brute force.

    Returns:
        dicts with size, queries, method, seconds (the batch), build
        (seconds to build the index or fit) and recall (recall@10).
    """
    gallery, batch = dataset(size, queries, clusters)
    truth = brute_force_top_k(gallery, batch[:recall_queries])
    rows = []
    for method, build in _searchers(gallery, ef_search).items():
        build_seconds, find = _timed(build)
        find(batch[:10])  # warm-up: threads, first-touch buffers
        seconds, found = _timed(find, batch)
        rows.append({"size": size, "queries": queries, "method": method, "seconds": seconds,
                     "build": build_seconds, "recall": recall_at_k(found[:recall_queries], truth)})
        find = None  # free this index before the next one is built
    return rows


def gallery_seconds(size, queries=QUERIES, clusters=CLUSTERS) -> float:
    """Seconds of `Gallery.identify_embeddings(batch, top_k=10)` on a gallery
    of `size` people enrolled one vector each (query checks and Match objects
    included)."""
    vectors, batch = dataset(size, queries, clusters)
    gallery = Gallery(distance="cosine")
    for i, vector in enumerate(vectors):
        gallery.enroll_embeddings(f"person{i:07d}", vector)
    gallery.identify_embeddings(batch[:10], top_k=K)  # warm-up, builds the index
    return _timed(gallery.identify_embeddings, batch, K)[0]


def results_table(rows) -> str:
    """One Markdown row per size and method."""
    flat = {r["size"]: r["seconds"] for r in rows if r["method"] == METHODS[1]}
    table = []
    for r in rows:
        qps = r["queries"] / r["seconds"]
        table.append((f"{r['size']:,}", r["method"], f"{qps:,.0f}", f"{1000 * r['seconds']:,.1f}",
                      f"{flat[r['size']] / r['seconds']:.2f}x",
                      f"{r['build']:.2f}", f"{r['recall']:.3f}"))
    return markdown(table, ("gallery", "method", "queries/s", "ms per batch",
                            "throughput vs faiss flat", "build s", "recall@10"))


def targets_table(rows) -> str:
    """The issue's two targets, with the ratio at every size."""
    sizes = sorted({r["size"] for r in rows})
    seconds = {(r["size"], r["method"]): r["seconds"] for r in rows}

    def target(text, other, minimum):
        ratios = [seconds[size, other] / seconds[size, METHODS[0]] for size in sizes]
        missed = [f"{size:,}" for size, ratio in zip(sizes, ratios) if ratio < minimum]
        return (text, " / ".join(f"{ratio:.2f}x" for ratio in ratios),
                f"MISSED at {', '.join(missed)}" if missed else verdict(min(ratios), minimum))

    return markdown([
        target("exact >= 0.8x faiss flat throughput", METHODS[1], 0.8),
        target("exact >= 10x faster than scikit-learn brute", METHODS[2], 10.0),
    ], ("target", f"measured at {' / '.join(f'{size:,}' for size in sizes)}", "verdict"))


def plot(rows, path) -> Path:
    """Queries/s against gallery size, log-log, one line per method."""
    from zoo.evaluation._plot import new_figure, save_png

    fig, ax = new_figure((6.0, 4.5))
    for method in METHODS:
        mine = sorted((r["size"], r["queries"] / r["seconds"]) for r in rows
                      if r["method"] == method)
        ax.plot(*zip(*mine), marker="o", label=method)
    ax.set(xscale="log", yscale="log", xlabel="gallery vectors (64-d float32)",
           ylabel="queries / s",
           title=f"Top-{K} cosine search, {rows[0]['queries']:,} queries per batch")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    return save_png(fig, path)


def run(from_cards=False, sizes=SIZES, queries=QUERIES, clusters=CLUSTERS,
        ef_search=EF_SEARCH, plot_path=PLOT) -> str:
    """Measure every method at every size; return the Markdown report.

    Args:
        from_cards: ignored; search speed is always measured.
        sizes: gallery sizes.
        queries: the query batch size.
        clusters: cluster centres of the data (0: uniform random vectors).
        ef_search: HNSW search breadth.
        plot_path: where to write the PNG plot (None: no plot).
    """
    rows = [row for size in sizes for row in measure(size, queries, clusters, ef_search)]
    small = min(sizes)
    through_gallery = gallery_seconds(small, queries, clusters) if small <= GALLERY_PATH_MAX \
        else None
    if plot_path is not None:
        plot(rows, plot_path)
    data = (f"{clusters:,} clusters of unit vectors (noise {SPREAD} around unit centres), "
            "queries drawn around the same centres" if clusters
            else "uniform random unit vectors")
    exact_small = next(r["seconds"] for r in rows
                       if r["size"] == small and r["method"] == METHODS[0])
    gallery_note = "" if through_gallery is None else (
        f"Through `Gallery.identify_embeddings` ({small:,} people enrolled one vector "
        f"each; query checks and `Match` objects included) the {small:,} batch takes "
        f"{1000 * through_gallery:,.1f} ms, against {1000 * exact_small:,.1f} ms for the "
        "search function alone.\n\n")
    return (f"### Gallery search at scale\n\n{targets_table(rows)}\n\n"
            f"Top-{K} cosine search of {queries:,} queries, {DIM}-d float32, {data}; one "
            f"run per method after a 10-query warm-up, {os.cpu_count()} CPU cores. "
            f"\"zoo exact\" is `zoo.search.numpy_top_k`, the search `Gallery.identify_embeddings` "
            f"runs, with each vector its own person. recall@10 is checked on the first "
            f"{min(queries, RECALL_QUERIES)} queries against a float64 brute force; "
            f"HNSW: efConstruction {EF_CONSTRUCTION}, efSearch {ef_search}.\n\n"
            f"{results_table(rows)}\n\n{gallery_note}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=SIZES, help="gallery sizes")
    parser.add_argument("--queries", type=int, default=QUERIES, help="query batch size")
    parser.add_argument("--clusters", type=int, default=CLUSTERS,
                        help="cluster centres of the data; 0 for uniform random vectors")
    parser.add_argument("--ef-search", type=int, default=EF_SEARCH, help="HNSW efSearch")
    parser.add_argument("--plot", type=Path, default=PLOT, help="the PNG plot to write")
    args = parser.parse_args()
    print(run(sizes=args.sizes, queries=args.queries, clusters=args.clusters,
              ef_search=args.ef_search, plot_path=args.plot))
