"""Photos in, identities out: the seeded ORL scenes, `zoo.faces.pipeline` on every input
kind (grey, RGB, RGBA, palette, 16-bit PNG, EXIF-rotated JPEG, a very large photo), its
errors, `zoo face detect|verify|identify` and `zoo gallery` from photos through the CLI,
and the photo path with TensorFlow blocked from import."""

import os
import subprocess
import sys

import numpy as np
import pytest

from zoo.training.datasets.face_scenes import box_iou, face_scene, face_scenes, match_counts
from zoo.training.datasets.orl_faces import load_orl_faces
from zoo import hub
from zoo.faces.pipeline import FacePipeline, FaceTooSmallError, ManyFacesWarning, NoFaceError

PIL = pytest.importorskip("PIL")
from PIL import Image  # noqa: E402


@pytest.fixture(scope="module")
def home(zoo_cache):
    """The session's ZOO_HOME with face_resnet built (once) and face_detector pulled."""
    folder = zoo_cache
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ZOO_HOME", str(folder))
        resnet, detector = hub.pull("face_resnet"), hub.pull("face_detector")
    return {"home": folder, "resnet": resnet, "detector": detector,
            "env": {**os.environ, "ZOO_HOME": str(folder)}}


@pytest.fixture(scope="module")
def pipeline(home):
    return FacePipeline(embedder=str(home["resnet"]), detector=str(home["detector"]))


@pytest.fixture(scope="module")
def orl():
    return load_orl_faces()


def scene(orl, seed, person=None, k=0, **kwargs):
    """A seeded 320x240 scene; with `person`, its face is that person's k-th ORL image."""
    faces, labels = orl
    pool = None if person is None else [np.flatnonzero(labels == person)[k]]
    kwargs = {"shape": (240, 320), "count": 1, "scale": (1.1, 1.6), "angle": 10.0, **kwargs}
    return face_scene(faces, labels, np.random.default_rng(seed), pool=pool, **kwargs)


# Every CLI test runs with TensorFlow (and dlib) blocked from import: the photo path is
# NumPy + onnxruntime only.
NO_TENSORFLOW = ("import sys; sys.modules['tensorflow'] = sys.modules['dlib'] = None; "
                 "from zoo.cli import main; "
                 "sys.exit(main(sys.argv[1:]))")


def zoo_cli(env, *args):
    """`zoo ARGS...` in a subprocess where `import tensorflow` and `import dlib` fail."""
    return subprocess.run([sys.executable, "-c", NO_TENSORFLOW, *map(str, args)],
                          capture_output=True, text=True, timeout=300, env=env)


def save(image, path, **kwargs):
    Image.fromarray(image).save(path, **kwargs)
    return path


# -- the scene generator -----------------------------------------------------------------


def test_scenes_are_seeded_and_cover_zero_to_four_faces_at_every_scale():
    a, b = face_scenes(12, seed=0), face_scenes(12, seed=0)
    assert all(np.array_equal(x.image, y.image) and x.boxes == y.boxes for x, y in zip(a, b))
    counts = [len(s.boxes) for s in a]
    assert 0 in counts and max(counts) <= 4 and len(set(counts)) >= 3
    scales = [s for x in a for s in x.scales]
    assert 0.5 <= min(scales) < 1 and 2 < max(scales) <= 3
    assert {x.image.ndim for x in a} == {2, 3}  # grey and RGB scenes


def test_match_counts_is_one_to_one_at_iou_half():
    truth = [(0, 0, 99, 99), (200, 200, 299, 299)]
    found = [(0, 0, 99, 99), (5, 5, 104, 104), (400, 400, 450, 450)]
    # the duplicate of the first box cannot match again; the far box is a false positive
    assert match_counts(found, truth) == (1, 2)
    assert box_iou((0, 0, 9, 9), (0, 0, 9, 19)) == pytest.approx(0.5)


# -- the pipeline ----------------------------------------------------------------------


def test_detects_every_face_of_scenes_and_nothing_in_empty_ones(pipeline, orl):
    hits = total = false = 0
    for seed in range(3):
        s = scene(orl, seed, count=3, shape=(300, 400), scale=(0.9, 1.4))
        found = [f.box for f in pipeline.detect(s.image)]
        hit, miss = match_counts(found, s.boxes)
        hits, total, false = hits + hit, total + len(s.boxes), false + miss
    assert hits == total and false == 0
    empty = scene(orl, 9, count=0)
    assert pipeline.detect(empty.image) == []


def test_faces_carry_box_landmarks_embedding_largest_first(pipeline, orl):
    s = scene(orl, 4, count=2, shape=(300, 400), scale=(0.9, 1.5))
    faces = pipeline.faces(s.image, all_faces=True)
    assert len(faces) == 2 and faces[0].area >= faces[1].area
    for face in faces:
        left, top, right, bottom = face.box
        assert face.confidence > 0 and face.landmarks.shape == (5, 2)
        assert ((face.landmarks >= (left, top)) & (face.landmarks <= (right, bottom))).all()
        assert face.embedding.shape == (128,) and face.chip.shape == (150, 150, 3)
    with pytest.warns(ManyFacesWarning, match="2 faces"):
        (largest,) = pipeline.faces(s.image)
    assert largest.box == faces[0].box


def _exif_rotated(image, path):
    """A JPEG whose pixels are `image` turned 90 degrees, with EXIF orientation 6 (turn back)."""
    stored = Image.fromarray(image).transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    stored.save(path, quality=95, exif=exif)
    return path


def test_every_input_kind_gives_the_same_face(pipeline, orl, tmp_path):
    s = scene(orl, 5, rgb=True)
    rgb, (truth,) = s.image, s.boxes
    grey = np.asarray(Image.fromarray(rgb).convert("L"))
    big = np.asarray(Image.fromarray(rgb).resize((320 * 6, 240 * 6), Image.BILINEAR))
    files = {
        "rgb": save(rgb, tmp_path / "rgb.png"),
        "grey": save(grey, tmp_path / "grey.png"),
        "rgba": save(np.dstack([rgb, np.full(grey.shape, 200, np.uint8)]), tmp_path / "rgba.png"),
        "palette": tmp_path / "palette.png",
        "16bit": tmp_path / "16bit.png",
        "exif_jpeg": _exif_rotated(rgb, tmp_path / "rotated.jpg"),
        "large": save(big, tmp_path / "large.png"),
    }
    Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE).save(files["palette"])
    Image.fromarray(grey.astype(np.uint16) * 257).save(files["16bit"])
    assert Image.open(files["16bit"]).mode.startswith("I")
    reference = pipeline.faces(files["rgb"])[0]
    for kind, path in files.items():
        (face,) = pipeline.faces(path)
        box = tuple(v / 6 for v in face.box) if kind == "large" else face.box
        assert box_iou(box, truth) >= 0.5, (kind, face.box, truth)
        distance = np.linalg.norm(face.embedding - reference.embedding)
        assert distance < 0.3, (kind, distance)


def test_bad_inputs_are_named(pipeline, orl, tmp_path):
    blank = save(scene(orl, 6, count=0).image, tmp_path / "blank.png")
    with pytest.raises(NoFaceError, match="blank.png"):
        pipeline.faces(blank)
    tiny = save(np.full((30, 30), 128, np.uint8), tmp_path / "tiny.png")
    with pytest.raises(FaceTooSmallError, match="80x80"):
        pipeline.faces(tiny)
    data = (tmp_path / "rgb.png")
    save(scene(orl, 5).image, data)
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(data.read_bytes()[:300])
    with pytest.raises(ValueError, match="truncated.png"):
        pipeline.faces(truncated)
    with pytest.raises(ValueError, match="is a directory"):
        pipeline.faces(tmp_path)


# -- the CLI -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def photos(orl, tmp_path_factory):
    """Scenes of people 3 and 7 (two ORL images each), a two-face scene, a blank one."""
    folder = tmp_path_factory.mktemp("photos")
    out = {}
    for person in (3, 7):
        for k in (0, 1):
            out[f"p{person}_{k}"] = save(scene(orl, 10 * person + k, person, k).image,
                                         folder / f"p{person}_{k}.png")
    faces, labels = orl
    pair = face_scene(faces, labels, np.random.default_rng(1), shape=(300, 420), count=2,
                      scale=(1.1, 1.3), angle=5, pool=[np.flatnonzero(labels == 3)[2],
                                                       np.flatnonzero(labels == 7)[2]])
    out["pair"] = save(pair.image, folder / "pair.png")
    out["blank"] = save(scene(orl, 6, count=0).image, folder / "blank.png")
    return out


def test_cli_face_detect_prints_faces_and_writes_overlays(home, photos, tmp_path):
    result = zoo_cli(home["env"], "face", "detect", photos["pair"], photos["blank"],
                     "--out", tmp_path / "out")
    assert result.returncode == 0, result.stderr[-2000:]
    lines = [l for l in result.stdout.splitlines() if l.startswith(str(photos["pair"]))]
    assert len(lines) == 2 and "box=" in lines[0] and "landmarks=" in lines[0]
    assert "no face found in" in result.stderr and "blank.png" in result.stderr
    overlay = Image.open(tmp_path / "out" / "pair.faces.png")
    assert overlay.size == (420, 300) and overlay.format == "PNG"


def test_cli_face_verify_match_and_no_match_exit_0(home, photos):
    same = zoo_cli(home["env"], "face", "verify", photos["p3_0"], photos["p3_1"])
    other = zoo_cli(home["env"], "face", "verify", photos["p3_0"], photos["p7_0"])
    assert same.returncode == 0 and other.returncode == 0, same.stderr[-2000:] + other.stderr[-2000:]
    assert " match (threshold" in same.stdout and "no match" in other.stdout


def test_cli_gallery_from_photos_and_face_identify(home, photos, tmp_path):
    gallery, env = tmp_path / "g", home["env"]
    enrolled = zoo_cli(env, "gallery", "enroll", "--gallery", gallery, "--model", "face_resnet",
                       "--person", "s3", photos["p3_0"])
    assert enrolled.returncode == 0, enrolled.stderr[-2000:]
    # a photo with no face is skipped with a warning; the others are still enrolled
    again = zoo_cli(env, "gallery", "enroll", "--gallery", gallery, "--person", "s7",
                    photos["blank"], photos["p7_0"])
    assert again.returncode == 1 and "skipped" in again.stderr and "blank.png" in again.stderr
    assert "No face found in" in again.stderr
    assert "enrolled 1 image(s) of s7; 2 people, 2 images" in again.stdout
    result = zoo_cli(env, "gallery", "identify", "--gallery", gallery, photos["p3_1"],
                     photos["blank"], photos["pair"])
    assert result.returncode == 1 and "blank.png" in result.stderr
    assert "2 faces found" in result.stderr
    rows = [l.split() for l in result.stdout.splitlines() if not l.startswith(" ")]
    assert rows[0] == [str(photos["p3_1"]), "s3", rows[0][2]] and float(rows[0][2]) < 0.6
    assert len(rows) == 2 and rows[1][0] == str(photos["pair"])  # the pair: its largest face
    every = zoo_cli(env, "face", "identify", "--gallery", gallery, "--all", "--top-k", "2",
                    photos["pair"])
    assert every.returncode == 0, every.stderr[-2000:]
    named = {l.split()[0]: l.split()[1] for l in every.stdout.splitlines() if not l.startswith(" ")}
    assert sorted(named) == [f"{photos['pair']}[0]", f"{photos['pair']}[1]"]
    assert sorted(named.values()) == ["s3", "s7"]


def test_min_face_detects_on_a_downscaled_photo_and_maps_boxes_back(home, orl):
    s = scene(orl, 8, count=2, shape=(300, 400), scale=(1.3, 1.6))
    fast = FacePipeline(embedder=None, detector=str(home["detector"]), min_face=100)
    assert match_counts([f.box for f in fast.detect(s.image)], s.boxes) == (2, 0)
    with pytest.raises(ValueError, match="min_face"):
        FacePipeline(embedder=None, detector=str(home["detector"]), min_face=40)
