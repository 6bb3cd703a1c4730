"""zoo.retrieval.Gallery: 1:N identification (open set), 1:1 verify, persistence, CLI.

Unit tests use tiny synthetic embedders; the real ONNX artifact
saved_models/siamese_contrastive (euclidean, threshold 0.4463 "less") is used
for input validation, `from_model` and the CLI end to end.
"""

import importlib.util
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import require_data
from zoo.training import datasets
from zoo.evaluation.identification import top1_matches
from zoo.retrieval import UNKNOWN, Gallery, GalleryError, UnknownPersonError

REPO = Path(__file__).resolve().parents[1]
ARTIFACT = REPO / "saved_models" / "siamese_contrastive"


class LinearEmbedder:
    """Embeds (N, 4, 4) images as flatten @ W; refuses other sizes like the runtime."""

    def __init__(self, dim=3, seed=0):
        self.weights = np.random.default_rng(seed).normal(size=(16, dim))
        self.calls = 0

    def embed(self, images):
        self.calls += 1
        x = np.asarray(images, dtype=np.float64)
        x = x[None] if x.ndim == 2 else x
        if x.shape[1:] != (4, 4):
            raise ValueError(f"`images` must be 4x4. Received: shape={x.shape}")
        return x.reshape(len(x), 16) @ self.weights


def reference_scores(gallery_rows, query, distance):
    """{person: best score} by brute force, one pair at a time."""
    def score(a, b):
        if distance == "cosine":
            return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))
        return float(np.linalg.norm(a - b))

    best = max if distance == "cosine" else min
    return {p: best(score(query, row) for row in rows) for p, rows in gallery_rows.items()}


def random_gallery(distance, people=6, per_person=(1, 4), dim=5, seed=0, **kwargs):
    rng = np.random.default_rng(seed)
    rows = {f"p{i}": rng.normal(size=(rng.integers(*per_person, endpoint=True), dim))
            for i in range(people)}
    gallery = Gallery(distance=distance, **kwargs)
    for person, x in rows.items():
        gallery.enroll_embeddings(person, x)
    return gallery, rows


def answers(matches):
    return [(m.person, [p for p, _ in m.candidates], [s for _, s in m.candidates])
            for m in matches]


# -- enrol, identify, verify, remove ---------------------------------------------


def test_enroll_identify_verify_remove_round_trip():
    embedder = LinearEmbedder()
    rng = np.random.default_rng(1)
    alice, bob = rng.uniform(size=(3, 4, 4)), rng.uniform(size=(2, 4, 4))
    gallery = Gallery(embedder, distance="euclidean", threshold=1e-6)
    assert gallery.enroll("alice", alice[:2]) == 2
    assert gallery.enroll("alice", alice[2]) == 1  # one (H, W) image, appended
    gallery.enroll("bob", bob)
    assert gallery.people() == [("alice", 3), ("bob", 2)]
    assert len(gallery) == 2 and gallery.num_images == 5 and "bob" in gallery

    matches = gallery.identify(np.concatenate([bob[:1], alice[2:]]), top_k=2)
    assert [m.person for m in matches] == ["bob", "alice"]
    assert matches[0].score == pytest.approx(0.0, abs=1e-5)  # an enrolled image: distance 0
    assert [p for p, _ in matches[0].candidates] == ["bob", "alice"]

    score, is_match = gallery.verify(alice[1], "alice")
    assert score == pytest.approx(0.0, abs=1e-5) and is_match
    score, is_match = gallery.verify(alice[1], "bob")
    assert score > 0.1 and not is_match

    assert gallery.remove("bob") == 2
    assert gallery.people() == [("alice", 3)]
    assert gallery.identify(bob[:1])[0].person == UNKNOWN


@pytest.mark.parametrize("distance", ["cosine", "euclidean"])
def test_top_k_is_ordered_by_direction_and_equals_brute_force(distance):
    gallery, rows = random_gallery(distance, people=7, seed=2)
    queries = np.random.default_rng(3).normal(size=(9, 5))
    for match, query in zip(gallery.identify_embeddings(queries, top_k=4), queries):
        scores = [s for _, s in match.candidates]
        assert len(scores) == 4
        assert scores == sorted(scores, reverse=distance == "cosine")  # best first
        reference = reference_scores(rows, query, distance)
        expected = sorted(reference.values(), reverse=distance == "cosine")[:4]
        np.testing.assert_allclose(scores, expected, rtol=1e-5, atol=1e-6)
        for person, score in match.candidates:
            assert score == pytest.approx(reference[person], rel=1e-5, abs=1e-6)
        assert match.person == match.candidates[0][0]  # no threshold: closed set


@pytest.mark.parametrize("distance", ["cosine", "euclidean"])
def test_top1_agrees_with_the_evaluation_code(distance):
    """zoo.evaluation.identification scores similarities (minus the distance for
    euclidean); the gallery reports the card's units."""
    gallery, rows = random_gallery(distance, people=8, seed=4)
    queries = np.random.default_rng(5).normal(size=(20, 5))
    labels = np.array([p for p, x in rows.items() for _ in x])
    expected_people, similarity = top1_matches(np.concatenate(list(rows.values())), labels,
                                               queries, distance)
    matches = gallery.identify_embeddings(queries)
    assert [m.person for m in matches] == list(expected_people)
    sign = 1.0 if distance == "cosine" else -1.0
    np.testing.assert_allclose([sign * m.score for m in matches], similarity, atol=1e-5)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), distance=st.sampled_from(["cosine", "euclidean"]),
       people=st.integers(1, 6), top_k=st.integers(1, 8))
def test_scores_match_brute_force_property(seed, distance, people, top_k):
    gallery, rows = random_gallery(distance, people=people, per_person=(1, 3), dim=3, seed=seed)
    query = np.random.default_rng(seed + 1).normal(size=3)
    (match,) = gallery.identify_embeddings(query, top_k=top_k)
    reference = reference_scores(rows, query, distance)
    assert len(match.candidates) == min(top_k, people)
    for person, score in match.candidates:
        assert score == pytest.approx(reference[person], rel=1e-5, abs=1e-6)
    best = max(reference.values()) if distance == "cosine" else min(reference.values())
    assert match.score == pytest.approx(best, rel=1e-5, abs=1e-6)


def test_open_set_threshold_is_inclusive_in_each_direction():
    """euclidean: |(3, 4) - (0, 0)| = 5, a match when 5 <= t. cosine: (0, 1) vs
    (1, 0) has similarity 0, a match when 0 >= t."""
    far = Gallery(distance="euclidean", threshold=5.0)
    far.enroll_embeddings("a", [[0.0, 0.0]])
    assert far.identify_embeddings([[3.0, 4.0]])[0].person == "a"
    far.threshold = 4.99
    (match,) = far.identify_embeddings([[3.0, 4.0]])
    assert match.person == UNKNOWN and not match.is_known
    assert match.score == pytest.approx(5.0) and match.candidates[0][0] == "a"

    near = Gallery(distance="cosine", threshold=0.0)
    near.enroll_embeddings("a", [[1.0, 0.0]])
    assert near.identify_embeddings([[0.0, 1.0]])[0].person == "a"
    near.threshold = 1e-9
    assert near.identify_embeddings([[0.0, 1.0]])[0].person == UNKNOWN


def test_without_threshold_identification_is_closed_set():
    gallery, _ = random_gallery("euclidean", seed=6)
    far_away = np.full((4, 5), 1e3)
    assert all(m.is_known for m in gallery.identify_embeddings(far_away))
    with pytest.raises(ValueError, match="no threshold"):
        gallery.verify_embedding(far_away[0], "p0")


def test_direction_must_agree_with_distance():
    assert Gallery(distance="euclidean").direction == "less"
    assert Gallery(distance="cosine", direction="greater").direction == "greater"
    with pytest.raises(ValueError, match="direction must be 'less'"):
        Gallery(distance="euclidean", direction="greater")


# -- bad input -------------------------------------------------------------------


def test_bad_enrolment_is_refused_before_anything_changes():
    embedder = LinearEmbedder()
    gallery = Gallery(embedder)
    for empty in ([], np.zeros((0, 4, 4))):
        with pytest.raises(ValueError, match="empty"):
            gallery.enroll("alice", empty)
    assert embedder.calls == 0
    for person in ("", "  ", " alice", 7, None, UNKNOWN, "a\nb"):
        with pytest.raises(ValueError, match="person must be"):
            gallery.enroll(person, np.zeros((1, 4, 4)))
    with pytest.raises(ValueError, match="4x4"):  # the embedder's own error, unchanged
        gallery.enroll("alice", np.zeros((1, 5, 5)))
    gallery.enroll_embeddings("alice", np.ones((2, 3)))
    with pytest.raises(ValueError, match="width 3"):
        gallery.enroll_embeddings("bob", np.ones((2, 4)))
    with pytest.raises(ValueError, match="NaN or inf"):
        gallery.enroll_embeddings("bob", [[1.0, np.nan, 0.0]])
    with pytest.raises(ValueError, match="zero vector"):
        gallery.enroll_embeddings("bob", [[0.0, 0.0, 0.0]])
    with pytest.raises(ValueError, match=r"\[N, D\]"):
        gallery.enroll_embeddings("bob", np.ones((2, 3, 1)))
    assert gallery.people() == [("alice", 2)]


def test_empty_gallery_and_unknown_person_errors():
    gallery = Gallery(LinearEmbedder(), threshold=0.5)
    with pytest.raises(GalleryError, match="empty"):
        gallery.identify(np.zeros((1, 4, 4)))
    with pytest.raises(GalleryError, match="empty"):
        gallery.identify_embeddings(np.ones((1, 3)))
    gallery.enroll_embeddings("margaret", np.ones((1, 3)))
    with pytest.raises(UnknownPersonError, match=r"Did you mean: margaret.*'margaret'"):
        gallery.verify(np.zeros((4, 4)), "margret")
    with pytest.raises(UnknownPersonError, match="margret"):
        gallery.remove("margret")
    with pytest.raises(ValueError, match="top_k"):
        gallery.identify_embeddings(np.ones((1, 3)), top_k=0)
    with pytest.raises(ValueError, match="one image"):
        gallery.verify(np.ones((2, 4, 4)), "margaret")
    with pytest.raises(GalleryError, match="no embedder"):
        Gallery().enroll("x", np.zeros((1, 4, 4)))


# -- faiss -----------------------------------------------------------------------


@pytest.mark.parametrize("distance", ["cosine", "euclidean"])
def test_faiss_gives_the_numpy_answers(distance):
    pytest.importorskip("faiss")
    exact, _ = random_gallery(distance, people=30, per_person=(1, 6), dim=8, seed=7,
                              threshold=0.5 if distance == "cosine" else 3.0)
    fast, _ = random_gallery(distance, people=30, per_person=(1, 6), dim=8, seed=7,
                             threshold=exact.threshold, faiss_above=10)
    assert (exact.backend, fast.backend) == ("numpy", "faiss")
    queries = np.random.default_rng(8).normal(size=(25, 8))
    for top_k in (1, 5, 30):
        for a, b in zip(answers(exact.identify_embeddings(queries, top_k)),
                        answers(fast.identify_embeddings(queries, top_k))):
            assert a[:2] == b[:2]
            np.testing.assert_allclose(a[2], b[2], rtol=1e-5, atol=1e-5)
    fast.remove("p3")  # the faiss index is rebuilt after a change
    assert "p3" not in {p for m in fast.identify_embeddings(queries, 30) for p, _ in m.candidates}


@pytest.mark.parametrize("distance", ["cosine", "euclidean"])
def test_above_the_switch_faiss_gives_the_numpy_people_in_order(distance):
    pytest.importorskip("faiss")
    rng = np.random.default_rng(16)
    rows = {f"p{i:03d}": rng.normal(size=(rng.integers(1, 8), 16)) for i in range(600)}
    exact, switched = Gallery(distance=distance), Gallery(distance=distance, faiss_above=2000)
    for person, x in rows.items():
        exact.enroll_embeddings(person, x)
        switched.enroll_embeddings(person, x)
    assert switched.num_images > 2000
    assert (exact.backend, switched.backend) == ("numpy", "faiss")
    queries = rng.normal(size=(200, 16))
    for top_k in (1, 10):
        for a, b in zip(answers(exact.identify_embeddings(queries, top_k)),
                        answers(switched.identify_embeddings(queries, top_k))):
            assert a[:2] == b[:2]
            np.testing.assert_allclose(a[2], b[2], rtol=1e-5, atol=1e-5)
    switched.faiss_above = switched.num_images  # "more than N": at N it is still NumPy
    assert switched.backend == "numpy"


# -- persistence -----------------------------------------------------------------


def test_save_load_round_trip(tmp_path):
    gallery, _ = random_gallery("euclidean", seed=9, threshold=2.5)
    queries = np.random.default_rng(10).normal(size=(6, 5))
    gallery.save(tmp_path / "g")
    loaded = Gallery.load(tmp_path / "g")
    assert loaded.people() == gallery.people()
    assert (loaded.distance, loaded.direction, loaded.threshold) == ("euclidean", "less", 2.5)
    assert answers(loaded.identify_embeddings(queries, 3)) == \
        answers(gallery.identify_embeddings(queries, 3))
    with sqlite3.connect(tmp_path / "g" / "gallery.db") as db:
        assert db.execute("SELECT schema, dim FROM meta").fetchone() == (1, 5)
        assert db.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0] == gallery.num_images
    assert not (tmp_path / "g" / "gallery.json").exists()

    loaded.remove("p0")  # written at once, one transaction
    assert Gallery.load(tmp_path / "g").people() == gallery.people()[1:]
    loaded.save(tmp_path / "g")  # already written: nothing changes
    assert Gallery.load(tmp_path / "g").people() == gallery.people()[1:]


def test_json_format_round_trip(tmp_path):
    gallery, _ = random_gallery("euclidean", seed=9, threshold=2.5)
    gallery.save(tmp_path / "g", format="json")
    record = json.loads((tmp_path / "g" / "gallery.json").read_text())
    assert record["schema"] == 1 and len(record["labels"]) == gallery.num_images
    assert sorted(p.name for p in (tmp_path / "g").glob("embeddings-*.npy")) == \
        [record["embeddings"]["file"]]
    loaded = Gallery.load(tmp_path / "g", migrate=False)
    assert loaded.people() == gallery.people()
    assert not (tmp_path / "g" / "gallery.db").exists()
    loaded.remove("p0")
    loaded.save(tmp_path / "g", format="json")  # the old array file is replaced, not kept
    assert len(list((tmp_path / "g").glob("embeddings-*.npy"))) == 1
    assert Gallery.load(tmp_path / "g", migrate=False).people() == gallery.people()[1:]


def test_corrupt_array_is_detected(tmp_path):
    random_gallery("cosine", seed=11)[0].save(tmp_path, format="json")
    (array,) = tmp_path.glob("embeddings-*.npy")
    data = bytearray(array.read_bytes())
    data[-5] ^= 0xFF
    array.write_bytes(bytes(data))
    with pytest.raises(GalleryError, match=rf"{array.name}.*sha256.*Nothing was changed"):
        Gallery.load(tmp_path)
    array.unlink()
    with pytest.raises(GalleryError, match=rf"{array.name}.*missing"):
        Gallery.load(tmp_path)


def test_truncated_or_bad_json_is_detected(tmp_path):
    random_gallery("cosine", seed=12)[0].save(tmp_path, format="json")
    path = tmp_path / "gallery.json"
    text = path.read_text()
    path.write_text(text[: len(text) // 2])
    with pytest.raises(GalleryError, match=r"gallery\.json.*not valid JSON.*Nothing was changed"):
        Gallery.load(tmp_path)
    record = json.loads(text)
    record["labels"] = record["labels"][:-1]
    path.write_text(json.dumps(record))
    with pytest.raises(GalleryError, match=r"gallery\.json.*inconsistent.*people"):
        Gallery.load(tmp_path)
    record = json.loads(text)
    record["embeddings"]["file"] = "../../etc/passwd"
    path.write_text(json.dumps(record))
    with pytest.raises(GalleryError, match="embeddings"):
        Gallery.load(tmp_path)
    with pytest.raises(GalleryError, match="No gallery"):
        Gallery.load(tmp_path / "missing")


def test_crash_between_array_and_json_keeps_the_previous_gallery(tmp_path, monkeypatch):
    gallery, _ = random_gallery("euclidean", seed=13, threshold=2.0)
    gallery.save(tmp_path, format="json")
    queries = np.random.default_rng(14).normal(size=(5, 5))
    before = answers(gallery.identify_embeddings(queries, 2))

    gallery.enroll_embeddings("newcomer", np.ones((2, 5)))
    gallery.remove("p1")
    real_replace = os.replace

    def crash_on_json(src, dst):
        if Path(dst).name == "gallery.json":
            raise OSError("simulated crash before the json")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", crash_on_json)
    with pytest.raises(OSError, match="simulated"):
        gallery.save(tmp_path, format="json")
    monkeypatch.setattr(os, "replace", real_replace)
    assert len(list(tmp_path.glob("embeddings-*.npy"))) == 2  # the new array was written

    previous = Gallery.load(tmp_path, migrate=False)
    assert "newcomer" not in previous and "p1" in previous
    assert answers(previous.identify_embeddings(queries, 2)) == before

    gallery.save(tmp_path, format="json")  # the next save completes and cleans up
    assert len(list(tmp_path.glob("embeddings-*.npy"))) == 1
    assert "newcomer" in Gallery.load(tmp_path, migrate=False)


def test_empty_gallery_saves_and_loads(tmp_path):
    gallery, _ = random_gallery("cosine", people=1, seed=15)
    gallery.remove("p0")
    gallery.save(tmp_path)
    loaded = Gallery.load(tmp_path)
    assert len(loaded) == 0
    loaded.enroll_embeddings("x", np.ones((1, 7)))  # any width again
    assert loaded.people() == [("x", 1)]


# -- the real artifact -----------------------------------------------------------


@pytest.fixture(scope="module")
def model_gallery():
    return Gallery.from_model(str(ARTIFACT))


def test_from_model_takes_distance_and_threshold_from_the_card(model_gallery):
    card = json.loads((ARTIFACT / "card.json").read_text())
    assert model_gallery.distance == card["distance"] == "euclidean"
    assert model_gallery.threshold == card["threshold"]["value"]
    assert model_gallery.direction == card["threshold"]["direction"] == "less"
    assert model_gallery.model["name"] == "siamese_contrastive"


def test_runtime_errors_reach_the_user(model_gallery):
    with pytest.raises(ValueError, match="28x28"):
        model_gallery.enroll("x", np.zeros((2, 30, 30), np.uint8))
    with pytest.raises(ValueError, match="channel"):
        model_gallery.enroll("x", np.zeros((2, 28, 28, 3), np.uint8))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        model_gallery.enroll("x", np.full((1, 28, 28), 2.0))
    assert len(model_gallery) == 0


def test_model_gallery_verify_matches_runtime_verify(tmp_path):
    images, labels = require_data(datasets.load_fashion_mnist, "test")
    gallery = Gallery.from_model(str(ARTIFACT))
    a, b = images[labels == 0][:1], images[labels == 1][:1]
    gallery.enroll("tshirt", a)
    score, is_match = gallery.verify(b[0], "tshirt")
    expected, expected_match = gallery.embedder.verify(b, a)
    assert score == pytest.approx(float(expected[0]), abs=1e-4)
    assert is_match == bool(expected_match[0])
    gallery.save(tmp_path / "g")
    loaded = Gallery.load(tmp_path / "g", load_model=True)
    assert loaded.verify(b[0], "tshirt") == pytest.approx((score, is_match))


def test_a_gallery_refuses_another_model(tmp_path, model_gallery):
    gallery = Gallery.from_model(str(ARTIFACT))
    gallery.enroll_embeddings("x", np.ones((1, 64)))
    gallery.save(tmp_path / "g")
    other = tmp_path / "other"
    shutil.copytree(ARTIFACT, other, ignore=shutil.ignore_patterns("*.png", "*.keras", "test_data"))
    card = json.loads((other / "card.json").read_text())
    card["version"] = "9.9.9"
    import hashlib

    import onnx

    for graph in card["graphs"].values():  # a consistent 9.9.9: its ONNX says so too
        proto = onnx.load(other / graph["file"])
        for prop in proto.metadata_props:
            if prop.key == "zoo.version":
                prop.value = "9.9.9"
        data = proto.SerializeToString()
        (other / graph["file"]).write_bytes(data)
        card["files"][graph["file"]] = {"sha256": hashlib.sha256(data).hexdigest(),
                                        "bytes": len(data)}
    (other / "card.json").write_text(json.dumps(card))
    with pytest.raises(GalleryError, match="was enrolled with 'siamese_contrastive' 1.0.0"):
        Gallery.load(tmp_path / "g", Gallery.from_model(str(other)).embedder)


def test_import_does_not_import_tensorflow():
    heavy = ("tensorflow", "keras", "onnxruntime", "faiss")
    code = f"import sys, zoo.retrieval; print([m for m in {heavy!r} if m in sys.modules])"
    result = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True,
                            text=True, timeout=120, cwd=REPO)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "[]"


# -- command line ----------------------------------------------------------------


def test_read_images_npy_and_image_files(tmp_path):
    from zoo.retrieval import read_images

    np.save(tmp_path / "batch.npy", np.zeros((3, 28, 28), np.uint8))
    assert read_images(tmp_path / "batch.npy").shape == (3, 28, 28)
    image = pytest.importorskip("PIL.Image")
    rgb = np.zeros((5, 6, 3), np.uint8)
    rgb[..., 0] = 255  # pure red -> luma 76
    image.fromarray(rgb).save(tmp_path / "red.png")
    gray = read_images(tmp_path / "red.png")
    assert gray.shape == (5, 6) and gray.dtype == np.uint8 and int(gray[0, 0]) == 76
    (tmp_path / "junk.png").write_bytes(b"not an image")
    with pytest.raises(ValueError, match="junk.png"):
        read_images(tmp_path / "junk.png")
    with pytest.raises(GalleryError, match="missing.npy"):
        read_images(tmp_path / "missing.npy")



def test_read_images_scales_16_bit_drops_alpha_expands_palette_and_applies_exif(tmp_path):
    """A 16-bit PNG was clipped to all-white by convert("L"); 65535 -> 255."""
    from PIL import Image

    from zoo.retrieval import read_images

    ramp = (np.arange(20, dtype=np.uint32).reshape(4, 5) * 3000).astype(np.uint16)
    Image.fromarray(ramp).save(tmp_path / "deep.png")
    assert Image.open(tmp_path / "deep.png").mode.startswith("I")
    np.testing.assert_array_equal(read_images(tmp_path / "deep.png"),
                                  np.rint(ramp / 257.0).astype(np.uint8))
    assert read_images(tmp_path / "deep.png", channels=3).shape == (4, 5, 3)

    rgba = np.zeros((3, 4, 4), np.uint8)
    rgba[..., 1], rgba[..., 3] = 255, 0  # fully transparent green: alpha is dropped
    Image.fromarray(rgba, "RGBA").save(tmp_path / "alpha.png")
    assert int(read_images(tmp_path / "alpha.png")[0, 0]) == 150  # luma of pure green
    np.testing.assert_array_equal(read_images(tmp_path / "alpha.png", channels=3)[0, 0], [0, 255, 0])

    Image.fromarray(np.full((3, 4, 3), (0, 0, 255), np.uint8)).convert("P").save(tmp_path / "pal.png")
    assert int(read_images(tmp_path / "pal.png")[0, 0]) == 29  # luma of pure blue

    tall = np.zeros((6, 2), np.uint8)
    tall[0] = 255  # top row white
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    Image.fromarray(tall).save(tmp_path / "rotated.jpg", exif=exif, quality=100)
    upright = read_images(tmp_path / "rotated.jpg")
    assert upright.shape == (2, 6) and upright[:, -1].min() > 200 and upright[:, 0].max() < 60
    with pytest.raises(ValueError, match="channels must be 1"):
        read_images(tmp_path / "deep.png", channels=2)


def zoo_cli(*args):
    return subprocess.run([sys.executable, "-m", "zoo.cli", *map(str, args)], check=False,
                          capture_output=True, text=True, timeout=300, cwd=REPO)


def test_cli_enroll_identify_list_remove(tmp_path):
    images, labels = require_data(datasets.load_fashion_mnist, "test")
    shirts, trousers = images[labels == 0], images[labels == 1]
    np.save(tmp_path / "shirts.npy", shirts[:4])
    np.save(tmp_path / "trousers.npy", trousers[:4].astype(np.float32) / 255.0)  # float in [0, 1]
    np.save(tmp_path / "probe.npy", trousers[10])  # one (H, W) image
    gallery = tmp_path / "gallery"

    steps = [
        ("gallery", "enroll", "--gallery", gallery, "--model", ARTIFACT, "--person", "shirt",
         tmp_path / "shirts.npy"),
        ("gallery", "enroll", "--gallery", gallery, "--person", "trouser",
         tmp_path / "trousers.npy"),
    ]
    for step in steps:
        result = zoo_cli(*step)
        assert result.returncode == 0, result.stderr[-2000:]
    assert "2 people, 8 images" in result.stdout

    result = zoo_cli("gallery", "identify", "--gallery", gallery, "--top-k", "2",
                     tmp_path / "probe.npy", tmp_path / "shirts.npy")
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    assert lines[0].split()[:2] == [str(tmp_path / "probe.npy"), "trouser"]
    assert lines[1].split()[0] == "shirt"  # the second candidate, indented
    assert lines[2].split()[:2] == [f"{tmp_path / 'shirts.npy'}[0]", "shirt"]
    assert float(lines[2].split()[2]) == pytest.approx(0.0, abs=1e-4)  # an enrolled image

    # Below the threshold the answer is "unknown", and the best candidate is still named.
    np.save(tmp_path / "noise.npy", np.random.default_rng(0).integers(0, 256, (28, 28), np.uint8))
    result = zoo_cli("gallery", "identify", "--gallery", gallery, "--top-k", "2", tmp_path / "noise.npy")
    unknown = result.stdout.splitlines()
    path, answer, score, best = unknown[0].split(maxsplit=3)
    assert answer == "unknown", result.stdout
    assert best in ("(best: shirt)", "(best: trouser)")  # e.g. "unknown 0.8792 (best: s31)"
    runner_up = unknown[1].split()
    assert {best[7:-1], runner_up[0]} == {"shirt", "trouser"} and len(unknown) == 2
    if importlib.util.find_spec("faiss"):
        switched = zoo_cli("gallery", "identify", "--gallery", gallery, "--top-k", "2",
                           "--faiss-above", "0", tmp_path / "probe.npy", tmp_path / "shirts.npy")
        assert switched.returncode == 0, switched.stderr[-2000:]
        other = switched.stdout.splitlines()
        assert [line.split()[:-1] for line in other] == [line.split()[:-1] for line in lines]
        np.testing.assert_allclose([float(x.split()[-1]) for x in other],
                                   [float(x.split()[-1]) for x in lines], atol=2e-4)

    result = zoo_cli("gallery", "list", "--gallery", gallery)
    assert (result.returncode, result.stdout.splitlines()) == (0, ["shirt 4", "trouser 4"])
    result = zoo_cli("gallery", "remove", "--gallery", gallery, "--person", "trouser")
    assert result.returncode == 0, result.stderr[-2000:]
    assert zoo_cli("gallery", "list", "--gallery", gallery).stdout.splitlines() == ["shirt 4"]


def test_cli_errors_are_one_line(tmp_path):
    result = zoo_cli("gallery", "identify", "--gallery", tmp_path / "missing",
                     tmp_path / "probe.npy")
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.startswith("zoo: error:")]
    assert len(lines) == 1 and "No gallery" in lines[0], result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert zoo_cli("gallery", "--help").returncode == 0


# -- faces: the ORL walkthrough of the README ------------------------------------

FACES = REPO / "saved_models" / "face_embed"


def test_face_gallery_resizes_only_when_asked(tmp_path):
    faces, people = require_data(datasets.load_orl_faces)  # 112x92; the model takes 56x46
    gallery = Gallery.from_model(str(FACES))
    with pytest.raises(ValueError, match="resize=True"):
        gallery.enroll("s31", faces[people == 30][:5])
    assert len(gallery) == 0
    gallery = Gallery.from_model(str(FACES), resize=True)
    for person in range(30, 40):
        gallery.enroll(f"s{person + 1}", faces[people == person][:5])
    enrolled = gallery.identify(faces[people == 35][:5])
    assert [m.person for m in enrolled] == ["s36"] * 5  # each enrolled face finds itself
    assert all(m.score == pytest.approx(1.0, abs=1e-5) for m in enrolled)
    gallery.save(tmp_path / "faces")
    again = Gallery.load(tmp_path / "faces", load_model=True, resize=True)
    probes = faces[np.isin(people, range(30, 40))][5::10]
    assert [m.person for m in again.identify(probes)] == \
        [m.person for m in gallery.identify(probes)]


def test_cli_face_gallery_with_resize(tmp_path):
    faces, people = require_data(datasets.load_orl_faces)
    np.save(tmp_path / "s31.npy", faces[people == 30][:5])
    np.save(tmp_path / "probe.npy", faces[people == 30][0])
    gallery = tmp_path / "gallery"
    refused = zoo_cli("gallery", "enroll", "--gallery", gallery, "--model", FACES,
                      "--person", "s31", tmp_path / "s31.npy")
    assert refused.returncode == 1 and "resize" in refused.stderr
    assert not (gallery / "gallery.json").exists() and not (gallery / "gallery.db").exists()
    result = zoo_cli("gallery", "enroll", "--gallery", gallery, "--model", FACES, "--resize",
                     "--person", "s31", tmp_path / "s31.npy")
    assert result.returncode == 0, result.stderr[-2000:]
    result = zoo_cli("gallery", "identify", "--gallery", gallery, "--resize",
                     tmp_path / "probe.npy")
    assert result.returncode == 0 and result.stdout.split()[1] == "s31", result.stderr[-2000:]
