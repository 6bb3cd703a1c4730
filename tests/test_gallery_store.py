"""The gallery's SQLite store: concurrent CLI writers and a reader, kill -9 mid-write,
content checks on load, refusing another model's preprocessing or weights, migration of
the older gallery.json folders, `list --person`, `export --format npz` and `--check`."""

from __future__ import annotations

import json
import logging
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from zoo.retrieval import Gallery, GalleryError, migrate_gallery
from zoo.store import Store

REPO = Path(__file__).resolve().parents[1]
ARTIFACT = REPO / "saved_models" / "siamese_contrastive"


def python(code, *args, **kwargs):
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), *map(str, args)],
                            cwd=REPO, text=True, **kwargs)


def zoo_cli(*args):
    return subprocess.run([sys.executable, "-m", "zoo.cli", *map(str, args)], check=False,
                          capture_output=True, text=True, timeout=300, cwd=REPO)


def small_gallery(folder, seed=0, people=3, dim=6):
    rng = np.random.default_rng(seed)
    gallery = Gallery(distance="cosine", threshold=0.5)
    for p in range(people):
        gallery.enroll_embeddings(f"p{p}", rng.normal(size=(2, dim)))
    gallery.save(folder)
    return gallery


# -- concurrency and crashes -----------------------------------------------------

WORKER = """
    import sys
    from zoo.cli import main
    gallery, worker, count, images = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    for i in range(count):
        code = main(["gallery", "enroll", "--gallery", gallery, "--model", sys.argv[5],
                     "--person", f"w{worker}_{i}", images])
        print(f"ack {worker} {i} {code}", flush=True)
"""

READER = """
    import contextlib, io, sys, time
    from zoo.cli import main
    gallery, images, stop = sys.argv[1], sys.argv[2], sys.argv[3]
    import pathlib
    reads = failed = 0
    while not pathlib.Path(stop).exists():
        for argv in (["gallery", "list", "--gallery", gallery],
                     ["gallery", "identify", "--gallery", gallery, images]):
            err = io.StringIO()
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
                code = main(argv)
            reads += 1
            failed += code != 0
            if code:
                print("FAILED", err.getvalue().strip(), flush=True)
    print(f"reads {reads} failed {failed}", flush=True)
"""


def test_parallel_cli_enrolls_lose_nothing_and_a_reader_never_fails(tmp_path):
    images = tmp_path / "two.npy"
    np.save(images, np.random.default_rng(0).integers(0, 256, (2, 28, 28), np.uint8))
    gallery, stop = tmp_path / "g", tmp_path / "stop"
    seed = zoo_cli("gallery", "enroll", "--gallery", gallery, "--model", ARTIFACT,
                   "--person", "seed", images)
    assert seed.returncode == 0, seed.stderr[-2000:]
    reader = python(READER, gallery, images, stop, stdout=subprocess.PIPE)
    workers = [python(WORKER, gallery, w, 5, images, ARTIFACT, stdout=subprocess.PIPE,
                      stderr=subprocess.PIPE) for w in range(4)]
    outputs = [w.communicate(timeout=300) for w in workers]
    stop.touch()
    read_out, _ = reader.communicate(timeout=300)
    acks = [line.split() for out, _ in outputs for line in out.splitlines()
            if line.startswith("ack ")]
    assert len(acks) == 20 and all(code == "0" for *_, code in acks), outputs
    listed = zoo_cli("gallery", "list", "--gallery", gallery).stdout.splitlines()
    assert sorted(listed) == sorted(["seed 2"] + [f"w{w}_{i} 2" for w in range(4)
                                                  for i in range(5)])  # 0 lost
    *failures, summary = read_out.splitlines()
    assert summary.startswith("reads ") and summary.endswith(" failed 0"), read_out
    assert int(summary.split()[1]) > 0


KILLED = """
    import sys
    import numpy as np
    from zoo.retrieval import Gallery
    gallery = Gallery.load(sys.argv[1])
    rng = np.random.default_rng(int(sys.argv[2]))
    for i in range(10_000):
        gallery.enroll_embeddings(f"k{sys.argv[2]}_{i}", rng.normal(size=(50, 6)))
        print(i, flush=True)
"""


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_kill_9_mid_write_keeps_every_acknowledged_enroll(tmp_path, seed):
    folder = tmp_path / "g"
    small_gallery(folder)
    child = python(KILLED, folder, seed, stdout=subprocess.PIPE)
    wait = np.random.default_rng(seed).integers(3, 30)
    acked = []
    for line in child.stdout:  # kill after a random number of acknowledged enrolls
        acked.append(int(line))
        if len(acked) >= wait:
            break
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=60)
    acked += [int(line) for line in child.stdout.read().splitlines()]
    with Store(folder / "gallery.db") as store:
        assert store.integrity_check() == []
        counts = dict(store.people())
    for i in acked:
        assert counts.get(f"k{seed}_{i}") == 50  # present, and whole
    assert all(n == 50 for p, n in counts.items() if p.startswith("k"))  # never half a write
    assert len(Gallery.load(folder)) >= 3 + len(acked)


def test_write_through_one_transaction_per_enroll_and_remove(tmp_path):
    small_gallery(tmp_path)
    a, b = Gallery.load(tmp_path), Gallery.load(tmp_path)
    a.enroll_embeddings("new", np.ones((3, 6)), sources="x.npy")
    b.remove("p0")
    again = Gallery.load(tmp_path)
    assert again.people() == [("new", 3), ("p1", 2), ("p2", 2)]  # neither write was lost
    with Store(tmp_path / "gallery.db") as store:
        assert [r[1] for r in store.rows("new")] == ["x.npy"] * 3
        assert all(r[2].endswith("Z") for r in store.rows("new"))
    with pytest.raises(ValueError, match="width 6"):
        again.enroll_embeddings("wide", np.ones((1, 7)))


# -- content checks ----------------------------------------------------------------


def corrupt(folder, sql, *args):
    with sqlite3.connect(folder / "gallery.db") as db:
        db.execute(sql, args)


@pytest.mark.parametrize("sql, args, message", [
    ("UPDATE embeddings SET vector = ? WHERE id = 3",
     (np.array([np.nan] * 6, "<f4").tobytes(),), r"row id=3 .*NaN or inf"),
    ("UPDATE embeddings SET vector = ? WHERE id = 2",
     (np.array([np.inf] + [0] * 5, "<f4").tobytes(),), r"row id=2 .*NaN or inf"),
    ("UPDATE embeddings SET vector = ? WHERE id = 4", (np.ones(5, "<f4").tobytes(),),
     r"row id=4 .*20 bytes, not 24"),
    ("UPDATE embeddings SET person = 'unknown' WHERE id = 5", (), r"row id=5: person 'unknown'"),
    ("UPDATE meta SET schema = 7", (), r"schema version 7"),
])
def test_bad_content_is_refused_naming_the_file_and_the_row(tmp_path, sql, args, message):
    small_gallery(tmp_path)
    corrupt(tmp_path, sql, *args)
    with pytest.raises(GalleryError, match=message) as error:
        Gallery.load(tmp_path)
    assert "gallery.db" in str(error.value)
    check = zoo_cli("gallery", "list", "--gallery", tmp_path, "--check")
    assert check.returncode == 1 and "gallery.db" in check.stderr


def test_not_a_database_is_refused(tmp_path):
    (tmp_path / "gallery.db").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(GalleryError, match="not a readable gallery database"):
        Gallery.load(tmp_path)


class FakeEmbedder:
    """A runtime-like model: a card on disk, an embed graph file."""

    def __init__(self, folder, preprocess, weights=b"weights"):
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "embed.onnx").write_bytes(weights)
        self.card = {"name": "fake", "version": "1.0.0", "preprocess": preprocess,
                     "graphs": {"embed": {"file": "embed.onnx"}}}
        (folder / "card.json").write_text(json.dumps(self.card))
        self.folder = folder

    def embed(self, images):
        return np.asarray(images, np.float32).reshape(len(images), -1)


def test_another_models_preprocessing_or_weights_are_refused_with_the_fix(tmp_path):
    model = FakeEmbedder(tmp_path / "m", {"scale": 1 / 255})
    gallery = Gallery(model, distance="euclidean")
    gallery.enroll("a", np.ones((2, 2, 3)))
    gallery.save(tmp_path / "g")
    assert len(Gallery.load(tmp_path / "g", model)) == 1
    corrupt(tmp_path / "g", "UPDATE meta SET preprocessing = ?", json.dumps({"scale": 1.0}))
    with pytest.raises(GalleryError, match=r"preprocessing .*enroll a new gallery"):
        Gallery.load(tmp_path / "g", model)
    corrupt(tmp_path / "g", "UPDATE meta SET preprocessing = ?, weights_sha256 = ?",
            json.dumps({"scale": 1 / 255}), "0" * 64)
    with pytest.raises(GalleryError, match=r"embed weights sha256 000000000000.*Use the same"):
        Gallery.load(tmp_path / "g", model)


# -- migration -------------------------------------------------------------------------


def test_a_json_gallery_migrates_once_and_loses_nothing(tmp_path, caplog):
    old = small_gallery(tmp_path / "unused", seed=4, people=5)
    old.save(tmp_path / "g", format="json")
    queries = np.random.default_rng(5).normal(size=(4, 6))
    with caplog.at_level(logging.WARNING, logger="zoo.gallery"):
        migrated = Gallery.load(tmp_path / "g")
    assert "migrated the gallery" in caplog.text and "5 people, 10 images" in caplog.text
    assert (tmp_path / "g" / "gallery.db").is_file()
    assert (tmp_path / "g" / "gallery.json").is_file()  # the old files are kept
    assert migrated.people() == old.people()
    assert migrated.threshold == old.threshold and migrated.distance == old.distance
    for person, _ in old.people():
        np.testing.assert_array_equal(migrated._rows[person], old._rows[person])
    assert [(m.person, m.candidates) for m in migrated.identify_embeddings(queries, 3)] == \
        [(m.person, m.candidates) for m in old.identify_embeddings(queries, 3)]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="zoo.gallery"):
        Gallery.load(tmp_path / "g")
    assert "migrated" not in caplog.text  # once
    assert migrate_gallery(tmp_path / "g") is False


def test_cli_migrate_and_a_corrupt_json_gallery_is_not_migrated(tmp_path):
    small_gallery(tmp_path / "unused", seed=6).save(tmp_path / "g", format="json")
    result = zoo_cli("gallery", "migrate", "--gallery", tmp_path / "g")
    assert result.returncode == 0 and "migrated" in result.stdout, result.stderr
    assert zoo_cli("gallery", "list", "--gallery", tmp_path / "g").stdout.splitlines() == \
        ["p0 2", "p1 2", "p2 2"]
    again = zoo_cli("gallery", "migrate", "--gallery", tmp_path / "g")
    assert again.returncode == 0 and "nothing to do" in again.stdout

    small_gallery(tmp_path / "unused2", seed=7).save(tmp_path / "bad", format="json")
    (array,) = (tmp_path / "bad").glob("embeddings-*.npy")
    array.write_bytes(array.read_bytes()[:-8])
    with pytest.raises(GalleryError, match="sha256"):
        Gallery.load(tmp_path / "bad")
    assert not (tmp_path / "bad" / "gallery.db").exists()


# -- CLI: list --person, export, --check --------------------------------------------------


def test_cli_list_person_export_npz_and_check(tmp_path):
    images = tmp_path / "faces.npy"
    np.save(images, np.random.default_rng(1).integers(0, 256, (3, 28, 28), np.uint8))
    g = tmp_path / "g"
    assert zoo_cli("gallery", "enroll", "--gallery", g, "--model", ARTIFACT, "--person", "ann",
                   images).returncode == 0
    listed = zoo_cli("gallery", "list", "--gallery", g, "--person", "ann")
    lines = listed.stdout.splitlines()
    assert listed.returncode == 0 and lines[0] == "ann 3" and len(lines) == 4
    assert all(line.split()[1] == "faces.npy" for line in lines[1:])
    missing = zoo_cli("gallery", "list", "--gallery", g, "--person", "anne")
    assert missing.returncode == 1 and "Did you mean: ann" in missing.stderr

    checked = zoo_cli("gallery", "list", "--gallery", g, "--check")
    assert checked.returncode == 0 and "integrity_check ok" in checked.stderr
    assert checked.stdout.splitlines() == ["ann 3"]

    out = tmp_path / "copy.npz"
    result = zoo_cli("gallery", "export", "--gallery", g, "--format", "npz", "--out", out)
    assert result.returncode == 0, result.stderr[-2000:]
    with np.load(out, allow_pickle=False) as data:
        assert data["embeddings"].shape == (3, 64) and data["embeddings"].dtype == np.float32
        assert list(data["person"]) == ["ann"] * 3 and list(data["source"]) == ["faces.npy"] * 3
        meta = json.loads(str(data["meta"]))
        np.testing.assert_array_equal(data["embeddings"], Gallery.load(g)._rows["ann"])
    assert meta["model"]["name"] == "siamese_contrastive" and meta["dim"] == 64
    assert meta["weights_sha256"] and meta["preprocessing"] is not None


# -- bounded memory -------------------------------------------------------------------------


def test_runtime_embed_runs_a_large_batch_in_chunks(monkeypatch):
    from zoo import runtime
    from zoo.runtime import model as runtime_model

    model = runtime.load(str(ARTIFACT))
    images = np.random.default_rng(2).integers(0, 256, (23, 28, 28), np.uint8)
    whole = model.embed(images)
    calls = []
    real_run = model.run
    monkeypatch.setattr(runtime_model, "RUN_CHUNK", 5)
    monkeypatch.setattr(model, "run", lambda graph, **x: calls.append(len(*x.values()))
                        or real_run(graph, **x))
    np.testing.assert_array_equal(model.embed(images), whole)
    assert calls == [5, 5, 5, 5, 3]


def test_a_loaded_gallery_searches_its_float32_matrix_without_a_copy(tmp_path):
    small_gallery(tmp_path, people=4)
    gallery = Gallery.load(tmp_path)
    index = gallery._index()
    assert index.groups.matrix.dtype == np.float32
    assert all(np.shares_memory(index.groups.matrix, rows) for rows in gallery._rows.values())
    gallery.enroll_embeddings("p9", np.ones((1, 6)))  # a change rebuilds the index
    assert gallery._index().people[-1] == "p9"


def test_enroll_many_goes_in_batches_with_progress(tmp_path):
    small_gallery(tmp_path, people=1)
    gallery = Gallery.load(tmp_path)
    rng = np.random.default_rng(8)
    names = [f"m{i % 7}" for i in range(50)]
    vectors = rng.normal(size=(50, 6))
    seen = []
    assert gallery.enroll_many(names, vectors, batch=16, progress=lambda d, t: seen.append(d)) == 50
    assert seen == [16, 32, 48, 50]
    again = Gallery.load(tmp_path)
    assert again.people() == gallery.people() == [("m0", 8)] + [(f"m{i}", 7) for i in range(1, 7)] \
        + [("p0", 2)]
    for person, _ in again.people():
        np.testing.assert_allclose(again._rows[person], gallery._rows[person], atol=1e-6)
    with pytest.raises(ValueError, match="not 'unknown'"):
        gallery.enroll_many(["unknown"], vectors[:1])


# -- a faiss index persisted beside the database -------------------------------------

def _identify_all(folder, queries, monkeypatch, build_allowed):
    """identify through faiss; fails the test when an index is built but must not be."""
    from zoo import search

    monkeypatch.undo()  # the real faiss_index again
    real = search.faiss_index

    def guarded(*args, **kwargs):
        if not build_allowed:
            pytest.fail("the persisted index should have been read, not rebuilt")
        return real(*args, **kwargs)

    monkeypatch.setattr(search, "faiss_index", guarded)
    gallery = Gallery.load(folder, faiss_above=0)
    assert gallery.backend == "faiss"
    matches = gallery.identify_embeddings(queries)
    gallery._store.close()
    return [m.person for m in matches]


def test_a_persisted_faiss_index_is_reused_until_the_database_changes(tmp_path, monkeypatch):
    pytest.importorskip("faiss")
    folder = tmp_path / "g"
    small_gallery(folder, people=4, dim=6)
    rng = np.random.default_rng(1)
    queries = rng.normal(size=(5, 6))
    numpy_answer = [m.person for m in Gallery.load(folder).identify_embeddings(queries)]

    assert _identify_all(folder, queries, monkeypatch, build_allowed=True) == numpy_answer
    with Store(folder / "gallery.db") as store:
        record, generation = store.index_record("faiss-cosine"), store.meta()["generation"]
    assert record["generation"] == generation and (folder / "gallery.faiss").is_file()
    assert _identify_all(folder, queries, monkeypatch, build_allowed=False) == numpy_answer

    # Another writer enrolls: the database's generation moves on, the file is stale.
    writer = Gallery.load(folder, rows=False)
    writer.enroll_embeddings("newcomer", queries[:1])
    writer._store.close()
    assert _identify_all(folder, queries[:1], monkeypatch, build_allowed=True) == ["newcomer"]
    with Store(folder / "gallery.db") as store:
        assert store.index_record("faiss-cosine")["generation"] == store.meta()["generation"]

    # A file that does not match its recorded sha256 is rebuilt, never read.
    data = bytearray((folder / "gallery.faiss").read_bytes())
    data[-1] ^= 1
    (folder / "gallery.faiss").write_bytes(bytes(data))
    assert _identify_all(folder, queries[:1], monkeypatch, build_allowed=True) == ["newcomer"]
    assert _identify_all(folder, queries[:1], monkeypatch, build_allowed=False) == ["newcomer"]
