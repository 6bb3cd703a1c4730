"""Dataset loaders: counts, dtypes, sha256 checks, error messages, helpers."""

import gzip
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from zoo.training import datasets
from zoo.training.datasets import _files
from zoo.training.datasets import fashion_mnist as fm

REPO = Path(__file__).resolve().parents[1]


# --- real data: counts, shapes, dtypes --------------------------------------


def test_fashion_mnist_counts(fashion_mnist):
    for split, n in (("train", 60_000), ("test", 10_000)):
        images, labels = fashion_mnist[split]
        assert images.shape == (n, 28, 28) and images.dtype == np.uint8
        assert labels.shape == (n,) and labels.dtype == np.int64
        np.testing.assert_array_equal(np.bincount(labels), [n // 10] * 10)
        assert images.max() == 255 and images.min() == 0


def test_fashion_mnist_validation_split_is_stratified_and_fixed(fashion_mnist):
    images, labels = fashion_mnist["train"]
    (x_tr, y_tr), (x_val, y_val) = datasets.validation_split(images, labels, 0.1, seed=0)
    np.testing.assert_array_equal(np.bincount(y_val), [600] * 10)
    np.testing.assert_array_equal(np.bincount(y_tr), [5400] * 10)
    assert x_tr.shape == (54_000, 28, 28) and x_val.shape == (6_000, 28, 28)
    train, val = datasets.stratified_split(labels, 0.1, seed=0)
    assert np.intersect1d(train, val).size == 0 and train.size + val.size == 60_000
    np.testing.assert_array_equal(x_val, images[val])
    np.testing.assert_array_equal(val, datasets.stratified_split(labels, 0.1, seed=0)[1])
    assert not np.array_equal(val, datasets.stratified_split(labels, 0.1, seed=1)[1])


def test_orl_faces_counts(orl_faces):
    images, labels = orl_faces
    assert images.shape == (400, 112, 92) and images.dtype == np.uint8
    assert labels.dtype == np.int64
    np.testing.assert_array_equal(labels, np.repeat(np.arange(40), 10))


def test_orl_five_five_split():
    train, test = datasets.orl_five_five_split(seed=0)
    labels = np.repeat(np.arange(40), 10)
    assert train.size == test.size == 200
    np.testing.assert_array_equal(np.sort(np.concatenate([train, test])), np.arange(400))
    np.testing.assert_array_equal(np.bincount(labels[train]), [5] * 40)
    np.testing.assert_array_equal(np.bincount(labels[test]), [5] * 40)
    np.testing.assert_array_equal(train, datasets.orl_five_five_split(seed=0)[0])
    assert not np.array_equal(train, datasets.orl_five_five_split(seed=1)[0])


def test_omniglot_counts(omniglot):
    for subset, chars in (("background", 964), ("evaluation", 659)):
        images, labels = omniglot[subset]
        assert images.shape == (chars * 20, 105, 105) and images.dtype == np.uint8
        np.testing.assert_array_equal(labels, np.repeat(np.arange(chars), 20))
        assert set(np.unique(images[:200])) == {0, 255}
        ink = (images[:2000] == 255).mean()
        assert 0.02 < ink < 0.2, "ink must be the bright minority (ink=255, paper=0)"


def test_omniglot_one_shot_runs(omniglot):
    runs = datasets.load_one_shot_runs()
    for key in ("train_images", "test_images"):
        assert runs[key].shape == (20, 20, 105, 105) and runs[key].dtype == np.uint8
    answer = runs["test_answer"]
    assert answer.shape == (20, 20) and answer.min() >= 0 and answer.max() <= 19
    assert all(sorted(row) == list(range(20)) for row in answer)
    np.testing.assert_array_equal(
        runs["train_char_id"][np.arange(20)[:, None], answer], runs["test_char_id"]
    )
    eval_images = omniglot["evaluation"][0]
    np.testing.assert_array_equal(eval_images[runs["train_index"]], runs["train_images"])
    np.testing.assert_array_equal(eval_images[runs["test_index"]], runs["test_images"])
    query_of_class = np.argsort(answer, axis=1)
    assert (runs["train_drawer"] != runs["test_drawer"][np.arange(20)[:, None], query_of_class]).all()


def test_omniglot_alphabets():
    background = datasets.omniglot_alphabets("background")
    evaluation = datasets.omniglot_alphabets("evaluation")
    assert background.shape == (964,) and evaluation.shape == (659,)
    assert len(set(background)) == 30 and len(set(evaluation)) == 20
    assert not set(background) & set(evaluation)


def test_digits():
    images, labels = datasets.load_digits()
    assert images.shape == (1797, 8, 8) and images.dtype == np.uint8
    assert labels.dtype == np.int64 and set(labels) == set(range(10))
    assert images.max() == 255 and images.min() == 0


# --- corrupt and missing files ----------------------------------------------

NPZ_LOADERS = [
    ("att_faces", "att_faces.npz", lambda d: datasets.load_orl_faces(data_dir=d)),
    ("omniglot", "omniglot_one_shot_runs.npz", lambda d: datasets.load_one_shot_runs(data_dir=d)),
    ("omniglot", "images_evaluation.npz", lambda d: datasets.load_omniglot("evaluation", data_dir=d)),
    ("omniglot", "characters.csv", lambda d: datasets.omniglot_alphabets(data_dir=d)),
]


@pytest.mark.parametrize("damage", ["truncate", "flip_byte"])
@pytest.mark.parametrize("folder,name,load", NPZ_LOADERS, ids=[n for _, n, _ in NPZ_LOADERS])
def test_vendored_file_corrupt(tmp_path, folder, name, load, damage):
    path = tmp_path / name
    shutil.copyfile(REPO / "data" / folder / name, path)
    data = bytearray(path.read_bytes())
    if damage == "truncate":
        data = data[: len(data) // 2]
    else:
        data[len(data) // 3] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(datasets.DataCorruptError, match=name) as info:
        load(tmp_path)
    assert ("size" if damage == "truncate" else "sha256") in str(info.value)


@pytest.mark.parametrize("folder,name,load", NPZ_LOADERS, ids=[n for _, n, _ in NPZ_LOADERS])
def test_vendored_file_missing(tmp_path, folder, name, load):
    with pytest.raises(datasets.DataMissingError, match=name):
        load(tmp_path)


def test_missing_vendored_file_names_git_restore(tmp_path, monkeypatch):
    monkeypatch.setattr(_files, "REPO_DATA_DIR", tmp_path / "data")
    with pytest.raises(FileNotFoundError, match="git checkout -- data/att_faces/att_faces.npz"):
        datasets.load_orl_faces()


@pytest.fixture
def fmnist_dir(fashion_mnist, tmp_path, monkeypatch):
    """ZOO_DATA_DIR = a tmp folder with the t10k files copied and the train files linked."""
    source = fm._find_folder("test")
    if source is None:
        pytest.skip("Fashion-MNIST came from TFDS; there are no IDX files to damage")
    for name in fm.FILES["train"] + fm.FILES["test"]:
        if name.startswith("t10k"):
            shutil.copyfile(source / name, tmp_path / name)
        else:
            (tmp_path / name).symlink_to(source / name)
    monkeypatch.setenv(fm.ENV_VAR, str(tmp_path))
    monkeypatch.setattr(fm, "DEBIAN_DIR", tmp_path / "absent")
    return tmp_path


def test_fashion_mnist_reads_zoo_data_dir_first(fmnist_dir, fashion_mnist):
    images, labels = datasets.load_fashion_mnist("test")
    np.testing.assert_array_equal(images, fashion_mnist["test"][0])
    np.testing.assert_array_equal(labels, fashion_mnist["test"][1])


@pytest.mark.parametrize("name", ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"])
@pytest.mark.parametrize("damage", ["truncate", "flip_byte"])
def test_fashion_mnist_corrupt(fmnist_dir, name, damage):
    path = fmnist_dir / name
    data = bytearray(path.read_bytes())
    if damage == "truncate":
        data = data[:-100]
    else:
        data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(datasets.DataCorruptError, match=name):
        datasets.load_fashion_mnist("test")


def test_fashion_mnist_partial_folder(fmnist_dir):
    (fmnist_dir / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(datasets.DataMissingError, match="t10k-labels-idx1-ubyte.gz"):
        datasets.load_fashion_mnist("test")


def test_fashion_mnist_missing_names_every_fix(tmp_path, monkeypatch):
    def no_tfds(split):
        raise ConnectionError("offline")

    monkeypatch.setenv(fm.ENV_VAR, str(tmp_path))
    monkeypatch.setattr(fm, "DEBIAN_DIR", tmp_path / "absent")
    monkeypatch.setattr(fm, "_load_tfds", no_tfds)
    with pytest.raises(FileNotFoundError) as info:
        datasets.load_fashion_mnist("train")
    assert isinstance(info.value, datasets.DataMissingError)
    message = str(info.value)
    for fix in ("sudo apt-get install dataset-fashion-mnist", "ZOO_DATA_DIR", "TFDS",
                "train-images-idx3-ubyte.gz", "offline"):
        assert fix in message


def test_fashion_mnist_rejects_unknown_split():
    with pytest.raises(ValueError, match="validation_split"):
        datasets.load_fashion_mnist("validation")


def _write_idx(path, payload: bytes, magic: bytes = b"\x00\x00\x08\x01", dims=(3,)):
    header = magic + np.array(dims, ">u4").tobytes()
    with gzip.open(path, "wb") as f:
        f.write(header + payload)


def test_idx_parser_reads_big_endian_dims(tmp_path):
    path = tmp_path / "ok.gz"
    _write_idx(path, bytes(range(6)), b"\x00\x00\x08\x03", dims=(1, 2, 3))
    np.testing.assert_array_equal(fm._read_idx(str(path), 3), np.arange(6).reshape(1, 2, 3))


@pytest.mark.parametrize(
    "case,match",
    [("wrong_magic", "magic number"), ("short_payload", "IDX header"),
     ("truncated_gzip", "decompress"), ("not_gzip", "decompress")],
)
def test_idx_parser_rejects_corrupt_files(tmp_path, case, match):
    path = tmp_path / f"{case}.gz"
    if case == "wrong_magic":
        _write_idx(path, b"abc", magic=b"\x00\x00\x0d\x01")
    elif case == "short_payload":
        _write_idx(path, b"ab")
    else:
        _write_idx(path, bytes(1000))
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2] if case == "truncated_gzip" else b"plain" + data)
    with pytest.raises(datasets.DataCorruptError, match=match) as info:
        fm._read_idx(str(path), 1)
    assert path.name in str(info.value)


# --- sha256 check -------------------------------------------------------------


def test_verify_file_message_names_expected_actual_and_fix(tmp_path):
    path = tmp_path / "blob.bin"
    path.write_bytes(b"hello")
    actual = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
    _files.verify_file(path, ("0" * 64, actual), (5, 7))
    with pytest.raises(datasets.DataCorruptError) as info:
        _files.verify_file(path, "f" * 64, 5)
    for part in ("blob.bin", "f" * 64, actual, "fresh copy"):
        assert part in str(info.value)


def test_verify_file_caches_hash_but_sees_changes(tmp_path):
    path = tmp_path / "blob.bin"
    path.write_bytes(b"hello")
    good = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
    _files.verify_file(path, good, 5)
    hits = _files._sha256.cache_info().hits
    _files.verify_file(path, good, 5)
    assert _files._sha256.cache_info().hits == hits + 1
    path.write_bytes(b"jello")
    os.utime(path, ns=(1, 1))
    with pytest.raises(datasets.DataCorruptError, match="sha256"):
        _files.verify_file(path, good, 5)


def test_loading_arrays_does_not_import_tensorflow():
    code = (
        "import sys\n"
        "from zoo.training import datasets, samplers\n"
        "images, labels = datasets.load_orl_faces()\n"
        "datasets.to_float(images); datasets.resize(images[:2], (28, 23))\n"
        "samplers.balanced_pairs(labels, 10); samplers.pk_batches(labels, 4, 2, 3)\n"
        "assert 'tensorflow' not in sys.modules, 'tensorflow was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


# --- array helpers --------------------------------------------------------------


def test_to_float():
    images = np.array([[[0, 51], [255, 102]]], np.uint8)
    x = datasets.to_float(images)
    assert x.shape == (1, 2, 2, 1) and x.dtype == np.float32
    np.testing.assert_allclose(x[0, :, :, 0], [[0.0, 0.2], [1.0, 0.4]], rtol=1e-6)
    with pytest.raises(ValueError, match="float64"):
        datasets.to_float(images.astype(np.float64))


@pytest.mark.parametrize("shape,size", [((105, 105), (28, 28)), ((112, 92), (56, 46)),
                                        ((8, 8), (28, 28)), ((10, 7), (3, 4))])
def test_resize_matches_tf_area(shape, size):
    import tensorflow as tf

    images = np.random.default_rng(0).random((3, *shape, 1)).astype(np.float32)
    want = tf.image.resize(images, size, method="area").numpy()
    np.testing.assert_allclose(datasets.resize(images, size), want, atol=1e-5)
    as_uint8 = datasets.resize((images[..., 0] * 255).astype(np.uint8), size)
    assert as_uint8.shape == (3, *size) and as_uint8.dtype == np.uint8


def test_resize_integer_factor_is_block_mean():
    images = np.random.default_rng(1).random((2, 105, 105, 1))
    out = datasets.resize(images, (35, 35))
    want = images.reshape(2, 35, 3, 35, 3, 1).mean(axis=(2, 4))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-6)


def test_to_dataset_batches_shuffles_with_seed_and_converts():
    images = np.arange(10 * 4 * 4, dtype=np.uint8).reshape(10, 4, 4)
    labels = np.arange(10, dtype=np.int64)
    ds = datasets.to_dataset(images, labels, batch_size=4, shuffle=True, seed=3)
    batches = list(ds.as_numpy_iterator())
    assert [len(y) for _, y in batches] == [4, 4, 2]
    x, y = batches[0]
    assert x.dtype == np.float32 and x.shape == (4, 4, 4, 1)
    np.testing.assert_allclose(x, datasets.to_float(images[y]))
    order = np.concatenate([y for _, y in batches])
    assert sorted(order) == list(range(10)) and list(order) != list(range(10))
    again = datasets.to_dataset(images, labels, batch_size=4, shuffle=True, seed=3)
    np.testing.assert_array_equal(order, np.concatenate([y for _, y in again.as_numpy_iterator()]))
    plain = datasets.to_dataset(images, batch_size=10)
    np.testing.assert_allclose(next(iter(plain)).numpy(), datasets.to_float(images))


@pytest.mark.parametrize("ci,outcome", [("true", pytest.fail.Exception), ("", pytest.skip.Exception)])
def test_require_data_fails_under_ci_and_skips_locally(monkeypatch, ci, outcome):
    from tests.conftest import require_data

    def missing():
        raise datasets.DataMissingError("no data here")

    monkeypatch.setenv("CI", ci)
    with pytest.raises(outcome, match="no data here"):
        require_data(missing)


@pytest.mark.parametrize(
    "kwargs,match",
    [({"held_out": 0}, "held_out=0"), ({"held_out": 3}, "held_out=3"),
     ({"held_out": 1.0}, "held_out=1.0"), ({"held_out": 1, "seed": None}, "seed=None")],
)
def test_stratified_split_errors_name_the_value(kwargs, match):
    with pytest.raises(ValueError, match=match):
        datasets.stratified_split(np.array([0, 0, 0, 1, 1, 1]), **kwargs)


def test_stratified_split_int_holds_out_per_class():
    labels = np.array([5, 5, 5, 9, 9, 9, 9])
    kept, held = datasets.stratified_split(labels, 2, seed=0)
    assert sorted(labels[held].tolist()) == [5, 5, 9, 9]
    np.testing.assert_array_equal(np.sort(np.concatenate([kept, held])), np.arange(7))
