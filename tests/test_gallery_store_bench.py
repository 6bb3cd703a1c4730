"""benchmarks.gallery_store on a tiny configuration: its tables are filled from
real runs (writers, a reader, kill -9, a small scale row)."""

from benchmarks import gallery_store


def tables(text) -> list:
    """Each Markdown table of `text` as its one data row, {column: cell}."""
    rows = [[c.strip() for c in line.strip("|").split("|")]
            for line in text.splitlines() if line.startswith("|")]
    return [dict(zip(rows[i], rows[i + 2])) for i in range(0, len(rows), 3)]


def test_the_report_measures_every_part():
    text = gallery_store.report(writers=2, enrolls=2, kill_rounds=1, sizes=(300,), queries=5)
    concurrency, kills, scale = tables(text)
    assert concurrency["acknowledged"] == "4" and concurrency["lost"] == "0"
    assert concurrency["failed reads"] == "0" and int(concurrency["reads"]) > 0
    assert kills["missing"] == kills["torn writes"] == kills["integrity failures"] == "0"
    assert scale["vectors"] == "300" and float(scale["enrolls/s"]) > 0
    assert scale["faiss identify q/s"] != "-"  # faiss is installed with the dev extras
