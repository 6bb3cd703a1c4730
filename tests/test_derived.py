"""The derived face_resnet artifact: built once into the cache from the pinned
package, through the CLI, refused when the package file is missing or tampered,
and then served by the ONNX runtime from raw faces."""

import shutil
import subprocess
import sys

import numpy as np
import pytest

import zoo
from zoo.training.datasets.orl_faces import load_orl_faces
from zoo import derived, hub
from zoo.faces import assets
from zoo.faces.resnet_dat import FILE

BUILDS = ("model.keras", "embed.onnx", derived.STAMP)


def _zoo(*args, env):
    return subprocess.run([sys.executable, "-m", "zoo.cli", *map(str, args)], env=env,
                          capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """`zoo pull face_resnet` into a clean cache, through the CLI."""
    import os

    home = tmp_path_factory.mktemp("cache")
    env = {**os.environ, "ZOO_HOME": str(home)}
    result = _zoo("pull", "face_resnet", env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    return home, env, result


def test_pull_builds_once_from_a_clean_cache_and_prints_its_folder(built):
    home, env, result = built
    folder = home / "face_resnet" / zoo.info("face_resnet").version
    assert result.stdout.strip().splitlines()[-1] == str(folder)
    assert "building face_resnet" in result.stderr
    assert all((folder / name).is_file() for name in BUILDS)
    assert not list(folder.glob(".build-*"))
    stamp = (folder / derived.STAMP).stat().st_mtime_ns
    again = _zoo("pull", "face_resnet", env=env)
    assert again.returncode == 0 and "building" not in again.stderr
    assert (folder / derived.STAMP).stat().st_mtime_ns == stamp  # reused, not rebuilt


def test_zoo_check_passes_on_the_built_artifact(built):
    _, env, _ = built
    result = _zoo("check", "face_resnet", env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "1 of 1 graphs pass on every engine" in result.stdout


def test_a_tampered_built_file_is_rebuilt(built, monkeypatch):
    home, env, _ = built
    folder = hub.cache_dir(zoo.info("face_resnet")).relative_to(hub.home())
    copy = home.parent / "tampered_cache"
    shutil.copytree(home, copy)
    with open(copy / folder / "embed.onnx", "r+b") as f:
        f.seek(1000)
        f.write(b"\0\0\0\0")
    monkeypatch.setenv("ZOO_HOME", str(copy))
    assert not derived.is_built(zoo.info("face_resnet"), copy / folder)
    hub.pull("face_resnet")
    assert derived.is_built(zoo.info("face_resnet"), copy / folder)


def test_a_tampered_package_file_is_refused_and_nothing_half_built_stays(tmp_path, monkeypatch):
    data = bytearray(open(assets.model_path(FILE), "rb").read())
    data[len(data) // 2] ^= 0xFF
    tampered = tmp_path / FILE
    tampered.write_bytes(bytes(data))
    real = assets.model_path
    monkeypatch.setattr(assets, "model_path", lambda name: str(tampered) if name == FILE else real(name))
    monkeypatch.setenv("ZOO_HOME", str(tmp_path / "cache"))
    from zoo.cli import main

    assert main(["pull", "face_resnet"]) == 1
    folder = hub.cache_dir(zoo.info("face_resnet"))
    assert not any((folder / name).exists() for name in BUILDS)
    assert not list(folder.glob(".build-*"))


def test_a_missing_package_names_the_pip_command(tmp_path, monkeypatch, capsys):
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == assets.PACKAGE else find_spec(name, *a))
    monkeypatch.setenv("ZOO_HOME", str(tmp_path))
    from zoo.cli import main

    assert main(["pull", "face_resnet"]) == 1
    assert "pip install 'face-recognition-models==0.3.0'" in capsys.readouterr().err


def test_runtime_embeds_raw_faces_like_keras_on_aligned_chips(built, monkeypatch):
    from zoo import runtime
    from zoo.faces.align import align_faces

    home, _, _ = built
    monkeypatch.setenv("ZOO_HOME", str(home))
    model = runtime.load("face_resnet")
    images, labels = load_orl_faces()
    faces = images[::40]
    raw = model.embed(faces)
    keras_model = zoo.load("face_resnet")
    chips = align_faces(faces).astype(np.float32) / 255.0
    np.testing.assert_allclose(raw, keras_model.predict(chips, verbose=0), atol=1e-5)
    np.testing.assert_allclose(model.embed(align_faces(faces), aligned=True), raw, atol=1e-6)
    # grey, RGB, RGBA and 16-bit copies of a face align to the same chip
    face = faces[0]
    rgb = np.repeat(face[..., None], 3, -1)
    variants = [face, rgb, np.dstack([rgb, np.full(face.shape, 7, np.uint8)]),
                face.astype(np.uint16) * 257, face / 255.0]
    for variant in variants:
        np.testing.assert_allclose(model.embed([variant]), raw[:1], atol=1e-5)
    score, same = model.verify(images[labels == 30][:1], images[labels == 30][1:2])
    assert same[0] and score[0] < model.threshold["value"]


@pytest.mark.parametrize("bad, message", [
    (np.zeros((0, 112, 92), np.uint8), "empty"),
    (np.full((1, 112, 92), np.nan, np.float32), "NaN"),
    (np.array(["face.png"]), "file paths"),
    (np.zeros((1, 112, 92, 2), np.uint8), "shaped"),
])
def test_runtime_refuses_bad_faces_naming_the_value(built, monkeypatch, bad, message):
    from zoo import runtime

    monkeypatch.setenv("ZOO_HOME", str(built[0]))
    with pytest.raises(ValueError, match=message):
        runtime.load("face_resnet").embed(bad)


def test_a_chip_of_the_wrong_size_is_refused_with_the_fix(built, monkeypatch):
    from zoo import runtime

    monkeypatch.setenv("ZOO_HOME", str(built[0]))
    with pytest.raises(ValueError, match="resize=True"):
        runtime.load("face_resnet").embed(np.zeros((1, 100, 100, 3), np.uint8), aligned=True)
