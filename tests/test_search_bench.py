"""benchmarks/search.py at a tiny size: table structure, recall, the plot.

No timing is asserted: the machine running the tests may be busy.
"""

import numpy as np
import pytest

pytest.importorskip("faiss")
pytest.importorskip("sklearn")

from benchmarks import search as bench

SIZE, QUERIES = 2000, 50


@pytest.fixture(scope="module")
def rows():
    return bench.measure(SIZE, QUERIES)


def test_data_is_seeded_unit_vectors_around_shared_centres():
    gallery, queries = bench.dataset(SIZE, QUERIES)
    again, _ = bench.dataset(SIZE, QUERIES)
    assert gallery.shape == (SIZE, bench.DIM) and queries.shape == (QUERIES, bench.DIM)
    assert gallery.dtype == np.float32 and np.array_equal(gallery, again)
    np.testing.assert_allclose(np.linalg.norm(gallery, axis=1), 1.0, atol=1e-5)
    # queries sit near the centres the gallery was drawn around (2 vectors per
    # centre here, so most queries have a close neighbour)
    assert np.median((queries @ gallery.T).max(axis=1)) > 0.7
    uniform, _ = bench.dataset(SIZE, QUERIES, clusters=0)
    assert (np.abs(uniform @ uniform[:50].T) < 0.7).mean() > 0.99


def test_every_method_is_measured_and_exact_search_is_exact(rows):
    assert [r["method"] for r in rows] == list(bench.METHODS)
    for r in rows:
        assert r["size"] == SIZE and r["queries"] == QUERIES and r["seconds"] > 0
        assert 0.0 <= r["recall"] <= 1.0
    recall = {r["method"]: r["recall"] for r in rows}
    assert recall["zoo exact (NumPy)"] == 1.0
    assert recall["scikit-learn brute"] == 1.0
    assert all(r["build"] >= 0 for r in rows)


def test_tables_and_plot(rows, tmp_path):
    results = bench.results_table(rows).splitlines()
    assert results[0].startswith("| gallery | method | queries/s | ms per batch |")
    assert len(results) == 2 + len(bench.METHODS)
    assert all(line.count("|") == 8 for line in results)
    assert "| 1.00x |" in results[2 + bench.METHODS.index("faiss IndexFlatIP")]
    targets = bench.targets_table(rows).splitlines()
    assert len(targets) == 4
    assert targets[2].startswith("| exact >= 0.8x faiss flat throughput")
    assert targets[3].startswith("| exact >= 10x faster than scikit-learn")
    assert targets[0] == "| target | measured at 2,000 | verdict |"
    assert all(line.rstrip(" |").endswith(("met", "MISSED at 2,000")) for line in targets[2:])
    path = bench.plot(rows, tmp_path / "search.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_run_returns_the_section(tmp_path):
    report = bench.run(sizes=(1000,), queries=20, plot_path=tmp_path / "plot.png")
    assert report.startswith("### Gallery search at scale")
    assert "Gallery.identify_embeddings" in report and (tmp_path / "plot.png").is_file()


def test_recall_and_brute_force_helpers():
    truth = np.array([[0, 1, 2], [3, 4, 5]])
    assert bench.recall_at_k(np.array([[2, 1, 0], [3, 9, 8]]), truth) == pytest.approx(4 / 6)
    gallery, queries = bench.dataset(258, 5)
    found = bench.brute_force_top_k(gallery, queries, k=3, chunk=64)  # 5 chunks, last short
    expected = np.argsort(-(queries.astype(np.float64) @ gallery.T.astype(np.float64)),
                          axis=1)[:, :3]
    np.testing.assert_array_equal(found, expected)
