"""Your own images: `zoo.training.datasets.load_folder`, `split_folder` and
`zoo train NAME --data DIR` for every family, then `zoo export` and `zoo check`.

The folders are ORL faces and Omniglot characters written as image files
(PNG, and for ORL also JPEG, BMP, GIF, an RGB PNG and mixed sizes). Every
run is `--quick` on a few classes, so the figures are smoke-test figures.
"""

import json
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import require_data
from zoo.training import datasets
from zoo.training.datasets.folder import FolderDataError, FolderWarning, load_folder, split_folder

PEOPLE, CHARACTERS, PER_CLASS = 8, 8, 5


def zoo_cli(*args):
    return subprocess.run([sys.executable, "-m", "zoo.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=900)


def _save(image, path):
    from PIL import Image

    Image.fromarray(image).save(path)


@pytest.fixture(scope="module")
def orl_folder(tmp_path_factory):
    """8 ORL people x 5 faces; s1 JPEG, s2 BMP, s3 GIF, s4 RGB PNG, one face of s5
    at another size, the rest grey PNG; plus a notes.txt that is not an image."""
    x, y = require_data(datasets.load_orl_faces)
    root = tmp_path_factory.mktemp("faces")
    suffix = {0: ".jpg", 1: ".bmp", 2: ".gif"}
    for person in range(PEOPLE):
        folder = root / f"s{person + 1}"
        folder.mkdir()
        for i, face in enumerate(x[y == person][:PER_CLASS]):
            if person == 3:
                face = np.repeat(face[..., None], 3, axis=-1)
            if person == 4 and i == 0:
                face = datasets.resize(face[None], (100, 80))[0]
            _save(face, folder / f"{i}{suffix.get(person, '.png')}")
    (root / "s1" / "notes.txt").write_text("not an image")
    return root


@pytest.fixture(scope="module")
def omniglot_folder(tmp_path_factory):
    """8 Omniglot characters x 5 drawings, PNG."""
    x, y = require_data(datasets.load_omniglot, "background")
    root = tmp_path_factory.mktemp("characters")
    for c in range(CHARACTERS):
        folder = root / f"character{c:02d}"
        folder.mkdir()
        for i, image in enumerate(x[y == c][:PER_CLASS]):
            _save(image, folder / f"{i}.png")
    return root


def _copy(folder, tmp_path):
    import shutil

    return shutil.copytree(folder, tmp_path / folder.name)


# -- load_folder ---------------------------------------------------------------------


def test_load_folder_reads_every_format_and_resizes(orl_folder):
    x, y = datasets.load_orl_faces()
    data = load_folder(orl_folder, image_size=(56, 46))
    assert data.images.shape == (PEOPLE * PER_CLASS, 56, 46) and data.images.dtype == np.uint8
    assert data.class_names == [f"s{p + 1}" for p in range(PEOPLE)]
    assert np.bincount(data.labels).tolist() == [PER_CLASS] * PEOPLE
    assert data.ignored == 1 and data.skipped == [] and data.resized == PEOPLE * PER_CLASS
    # A lossless file gives the loader's own face, resized the same way.
    index = data.files.index("s6/0.png")
    np.testing.assert_array_equal(data.images[index], datasets.resize(x[y == 5][:1], (56, 46))[0])
    card = data.card()
    assert card["name"] == orl_folder.name and len(card["sha256"]) == 64
    assert card["classes"] == PEOPLE and card["images"] == PEOPLE * PER_CLASS
    rgb = load_folder(orl_folder, image_size=(28, 28), channels=3)
    assert rgb.images.shape == (PEOPLE * PER_CLASS, 28, 28, 3)
    assert rgb.sha256 == data.sha256  # the hash is of the files, not of the arrays


def test_folder_hash_follows_the_content(orl_folder, tmp_path):
    folder = _copy(orl_folder, tmp_path)
    before = load_folder(folder, (28, 28)).sha256
    _save(np.zeros((112, 92), np.uint8), folder / "s8" / "0.png")
    assert load_folder(folder, (28, 28)).sha256 != before


def test_mixed_sizes_without_image_size_stay_a_list(orl_folder):
    data = load_folder(orl_folder)
    assert isinstance(data.images, list) and data.image_size is None
    assert {im.shape for im in data.images} == {(112, 92), (100, 80)}


def test_corrupt_image_is_skipped_with_a_warning_or_refused_with_strict(orl_folder, tmp_path):
    folder = _copy(orl_folder, tmp_path)
    good = (folder / "s7" / "0.png").read_bytes()
    (folder / "s7" / "0.png").write_bytes(good[: len(good) // 2])  # truncated
    (folder / "s7" / "junk.jpg").write_bytes(b"not a jpeg at all")
    with pytest.warns(FolderWarning, match="s7/0.png"):
        data = load_folder(folder, (28, 28))
    assert sorted(f for f, _ in data.skipped) == ["s7/0.png", "s7/junk.jpg"]
    assert len(data.labels) == PEOPLE * PER_CLASS - 1
    with pytest.raises(FolderDataError, match="s7/0.png.*--strict"):
        load_folder(folder, (28, 28), strict=True)


def test_bad_folders_are_refused_by_name(orl_folder, tmp_path):
    with pytest.raises(FolderDataError, match="No folder"):
        load_folder(tmp_path / "missing")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FolderDataError, match="no class sub-folders"):
        load_folder(empty)
    _save(np.zeros((30, 30), np.uint8), empty / "loose.png")
    with pytest.raises(FolderDataError, match="move them into one sub-folder per class"):
        load_folder(empty)
    (empty / "only").mkdir()
    (empty / "only" / "a.txt").write_text("x")
    with pytest.raises(FolderDataError, match="no readable image"):
        load_folder(empty)
    _save(np.zeros((30, 30), np.uint8), empty / "only" / "a.png")
    with pytest.raises(FolderDataError, match="1 class.*only.*at least 2"):
        load_folder(empty)
    folder = _copy(orl_folder, tmp_path)
    for extra in list((folder / "s2").iterdir())[1:]:
        extra.unlink()
    with pytest.raises(FolderDataError, match=r"fewer than 2 images.*s2 \(1\)"):
        load_folder(folder, (28, 28), min_per_class=2)
    _save(np.zeros((6, 5), np.uint8), folder / "s3" / "tiny.png")
    with pytest.raises(FolderDataError, match=r"s3/tiny.png \(5x6\)"):
        load_folder(folder, (28, 28), min_side=8)
    with pytest.raises(FolderDataError, match="image_size"):
        load_folder(folder, (4, 4), min_side=8)


def test_scan_progress_line(orl_folder, capsys):
    load_folder(orl_folder, (28, 28), progress=sys.stderr)
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line.startswith(f"scanned {orl_folder.name}: 40 images in 8 classes") and "files/s" in line


# -- split_folder ----------------------------------------------------------------------


def test_split_by_class_is_identity_disjoint_and_seeded():
    labels = np.repeat(np.arange(10), 4)
    split = split_folder(labels, 0.2, by="class", seed=3)
    groups = [set(labels[split[k]]) for k in ("train", "val", "test")]
    assert [len(g) for g in groups] == [6, 2, 2] and not set.intersection(*groups)
    assert sorted(np.concatenate([split[k] for k in ("train", "val", "test")])) == list(range(40))
    again = split_folder(labels, 0.2, by="class", seed=3)
    assert all(np.array_equal(split[k], again[k]) for k in ("train", "val", "test"))
    assert split["rule"] == {"by": "class", "val_split": 0.2, "seed": 3}
    with pytest.raises(FolderDataError, match="at least 6 classes"):
        split_folder(np.repeat(np.arange(5), 4), 0.2, by="class")


def test_split_by_image_keeps_every_class_on_every_side():
    labels = np.repeat(np.arange(4), 5)
    split = split_folder(labels, 0.2, by="image", seed=0)
    for key, n in (("train", 3), ("val", 1), ("test", 1)):
        assert np.bincount(labels[split[key]]).tolist() == [n] * 4
    with pytest.raises(FolderDataError, match="at least 3 per class"):
        split_folder(np.repeat(np.arange(4), 2), 0.2, by="image")
    with pytest.raises(FolderDataError, match="val-split"):
        split_folder(labels, 0.6)


# -- zoo train NAME --data DIR, then export and check ------------------------------------


def _train_export_check(name, folder, tmp_path, *extra):
    run, out = tmp_path / "run", tmp_path / "artifact"
    trained = zoo_cli("train", name, "--data", folder, "--quick", "--run-dir", run, *extra)
    assert trained.returncode == 0, trained.stderr[-3000:]
    assert f"scanned {folder.name}:" in trained.stderr
    assert " - loss: " in trained.stdout  # Keras prints one line per epoch when not on a TTY
    result = json.loads((run / "result.json").read_text())
    evaluated = zoo_cli("eval", name, "--run-dir", run)  # would measure the built-in dataset
    assert evaluated.returncode == 2 and "not on that folder's split" in evaluated.stderr
    exported = zoo_cli("export", name, "--run-dir", run, "--out", out, "--format", "onnx")
    assert exported.returncode == 0, exported.stderr[-3000:]
    checked = zoo_cli("check", out)
    assert checked.returncode == 0, checked.stderr[-3000:] + checked.stdout[-2000:]
    card = json.loads((out / "card.json").read_text())
    assert card["dataset"] == result["dataset"] and card["metrics"] == result["metrics"]
    assert card["dataset"]["name"] == folder.name and card["dataset"]["source"] == "folder"
    assert card["training"]["command"].startswith(f"zoo train {name} --data {folder.name}")
    assert str(tmp_path) not in json.dumps(card)  # no machine path in the card
    return result, card


FAMILIES = [  # (entry, folder fixture, split, metrics the card must hold)
    ("siamese_contrastive", "omniglot_folder", "class",
     ["test_accuracy", "roc_auc", "eer", "tar_at_far_1e-2", "retrieval_recall@1",
      "retrieval_map@r"]),
    ("ranking_embed", "orl_folder", "class",
     ["recall@1", "map@r", "verify_test_accuracy", "verify_eer", "verify_roc_auc",
      "verify_tar_at_far_1e-2"]),
    ("siamese_cosine", "omniglot_folder", "class",
     ["test_accuracy", "roc_auc", "eer", "tar_at_far_1e-2"]),
    ("margin_embed", "orl_folder", "class", ["recall@1", "map@r", "verify_eer"]),
    ("fmnist_cnn", "orl_folder", "image", ["accuracy"]),
    ("cae_unpool", "omniglot_folder", "image", ["mse", "pca4_mse", "mse_ratio_to_pca"]),
]


@pytest.mark.parametrize("name,fixture,by,metrics", FAMILIES, ids=[f[0] for f in FAMILIES])
def test_zoo_train_data_export_check(name, fixture, by, metrics, request, tmp_path):
    folder = request.getfixturevalue(fixture)
    result, card = _train_export_check(name, folder, tmp_path)
    assert set(metrics) <= set(result["metrics"]["test"])
    assert card["dataset"]["split"]["by"] == by
    if by == "class":
        assert card["threshold"]["calibrated_on"].startswith("validation")
        test_classes = set(card["dataset"]["split"]["test"]["class_names"])
        assert card["dataset"]["split"]["train"]["classes"] == 4 and len(test_classes) == 2
    if name == "fmnist_cnn":
        assert card["classes"] == [f"s{p + 1}" for p in range(PEOPLE)]
        assert card["graphs"]["classify"]["outputs"]["probabilities"] == [-1, PEOPLE]


def test_image_size_augment_and_from_freeze(orl_folder, tmp_path):
    """--image-size changes the exported input; --from copies the published
    tower, --freeze keeps its backbone fixed."""
    result, card = _train_export_check("triplet_embed", orl_folder, tmp_path, "--image-size", 32,
                                       24, "--augment", "--from", "ranking_embed", "--freeze")
    assert card["graphs"]["embed"]["inputs"]["image"] == [-1, 32, 24, 1]
    assert card["preprocess"]["resize"] == [32, 24]
    assert result["notes"]["from"]["name"] == "ranking_embed" and result["notes"]["from"]["freeze"]
    import zoo
    from zoo.saving import load_model

    trained = load_model(tmp_path / "run" / "model.keras").get_layer("embed").get_layer("backbone")
    source = zoo.load("ranking_embed").get_layer("embed").get_layer("backbone")
    for a, b in zip(trained.get_weights(), source.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_face_id_head_on_framed_faces(orl_folder, tmp_path):
    """face_id_head learns the folder's people on face_resnet chips (quick: the
    tiny config's untrained tower), exports and checks."""
    result, card = _train_export_check("face_id_head", orl_folder, tmp_path)
    assert "accuracy" in result["metrics"]["test"]
    assert card["classes"] == [f"s{p + 1}" for p in range(PEOPLE)]
    assert card["graphs"]["classify"]["inputs"]["image"] == [-1, 150, 150, 3]


def test_bad_data_writes_nothing_and_names_the_problem(orl_folder, tmp_path):
    folder = _copy(orl_folder, tmp_path)
    for extra in list((folder / "s2").iterdir())[1:]:
        extra.unlink()
    run = tmp_path / "run"
    result = zoo_cli("train", "siamese_contrastive", "--data", folder, "--quick", "--run-dir", run)
    assert result.returncode == 1 and "s2 (1)" in result.stderr and "Traceback" not in result.stderr
    assert not run.exists()
    (folder / "s2" / "broken.png").write_bytes(b"\x89PNG broken")
    result = zoo_cli("train", "fmnist_cnn", "--data", folder, "--strict", "--run-dir", run)
    assert result.returncode == 1 and "s2/broken.png" in result.stderr and not run.exists()
    result = zoo_cli("train", "fmnist_cnn", "--augment", "--run-dir", run)
    assert result.returncode == 2 and "--data" in result.stderr and not run.exists()
    result = zoo_cli("train", "face_detector", "--data", folder, "--run-dir", run)
    assert result.returncode == 1 and "--data` works for" in result.stderr and not run.exists()


def test_export_of_a_folder_run_never_replaces_the_shipped_artifact(tmp_path, monkeypatch):
    """Without --out, a folder run is refused, also where saved_models/NAME does
    not exist yet; the shipped folder is untouched."""
    import zoo
    from zoo.export import publish as publishing

    run = tmp_path / "run"
    run.mkdir()
    (run / "result.json").write_text(json.dumps({"dataset": {"name": "mine", "source": "folder"}}))
    spec = zoo.info("fmnist_cnn")
    shipped = publishing.REPO / "saved_models" / "fmnist_cnn"
    before = (shipped / "card.json").read_bytes()
    with pytest.raises(publishing.PublishError, match="shipped artifact.*--out DIR"):
        publishing.publish(spec, run, shipped)
    assert (shipped / "card.json").read_bytes() == before
    monkeypatch.setattr(publishing, "REPO", tmp_path)  # a checkout without saved_models/fmnist_cnn
    with pytest.raises(publishing.PublishError, match="your folder 'mine'.*--out DIR"):
        publishing.publish(spec, run, tmp_path / "saved_models" / "fmnist_cnn")
    assert not (tmp_path / "saved_models").exists()


def test_photos_are_cropped_to_their_largest_face(tmp_path, capsys):
    """--photos: the face detector finds each photo's face and it is aligned to
    the 150x150 chip; a photo without a face is left out with a warning."""
    from zoo.training.datasets.face_scenes import face_scenes
    from zoo.training.folder import _chips

    folder = tmp_path / "photos" / "someone"
    folder.mkdir(parents=True)
    for i, scene in enumerate(face_scenes(3, seed=0, count=1, scale=(1.5, 1.5))):
        _save(scene.image, folder / f"{i}.jpg")
    _save(np.full((240, 320), 90, np.uint8), folder / "wall.png")
    data = load_folder(tmp_path / "photos", min_classes=1)
    chips, keep, missing = _chips(data, True, sys.stderr)
    assert chips.shape == (3, 150, 150, 3) and chips.dtype == np.uint8
    assert keep.tolist() == [0, 1, 2] and missing == ["someone/wall.png"]
    assert "no face found in 1 photo(s), left out: someone/wall.png" in capsys.readouterr().err
