"""The NumPy ports of dlib's 5-point landmarks and face chips, against dlib itself.

dlib (the dlib-bin wheel of the dev extra) is only the reference here; the
product modules under zoo/faces never import it.
"""

import subprocess
import sys

import dlib
import numpy as np
import pytest

from zoo.faces import assets
from zoo.faces.align import FRAMED_FACE_BOX, align_faces, framed_face_box
from zoo.faces.chips import chip_transform, extract_chip
from zoo.faces.landmarks import FILE, ShapePredictor

EVERY = 4  # 100 of the 400 ORL faces


@pytest.fixture(scope="module")
def predictor():
    return ShapePredictor.from_dat()


@pytest.fixture(scope="module")
def reference():
    return dlib.shape_predictor(assets.model_path(FILE))


@pytest.fixture(scope="module")
def faces(orl_faces):
    images, _ = orl_faces
    return images[::EVERY]


def _dlib_points(shape):
    return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)


def _colour(grey):
    """A colour image whose channels differ, from a grey one."""
    return np.stack([grey, np.roll(grey, 5, axis=1), 255 - grey], axis=2)


def test_predictor_reads_the_pinned_file(predictor):
    assert predictor.num_parts == 5
    assert len(predictor.cascades) == len(predictor.anchors) == len(predictor.deltas) == 15


def test_landmarks_match_dlib(predictor, reference, faces):
    box = framed_face_box(*faces.shape[1:])
    images = list(faces[: len(faces) // 2]) + [_colour(g) for g in faces[len(faces) // 2 :]]
    ours = predictor.predict(images, [box] * len(images))
    theirs = np.array([_dlib_points(reference(image, dlib.rectangle(*box))) for image in images])
    error = np.linalg.norm(ours - theirs, axis=2)
    assert error.mean() <= 0.5
    assert (error == 0).mean() >= 0.99  # in practice the port is exact: dlib rounds to pixels


def test_landmarks_follow_a_moved_box(predictor, reference, faces):
    image = faces[0]
    for box in ((0, 0, 91, 111), (-20, -10, 60, 70), (30, 40, 200, 220)):
        theirs = _dlib_points(reference(image, dlib.rectangle(*box)))
        assert np.abs(predictor(image, box) - theirs).max() <= 1


def test_chips_match_dlib(reference, faces):
    box = dlib.rectangle(*framed_face_box(*faces.shape[1:]))
    close = []
    for grey in faces:
        rgb = np.repeat(grey[..., None], 3, axis=2)
        shape = reference(rgb, box)
        theirs = dlib.get_face_chip(rgb, shape, size=150, padding=0.25)
        ours = extract_chip(grey, _dlib_points(shape))
        close.append(np.abs(ours.astype(int) - theirs.astype(int)) <= 2)
    assert np.mean(close) >= 0.99


@pytest.mark.parametrize("upscale", [4, 7])  # faces of 1 and 2 pyramid levels
def test_large_face_chips_match_dlib_pyramid(reference, faces, upscale):
    for grey in faces[:3]:
        big = _colour(np.kron(grey, np.ones((upscale, upscale), np.uint8)))
        box = dlib.rectangle(*(upscale * v for v in framed_face_box(*grey.shape)))
        shape = reference(big, box)
        theirs = dlib.get_face_chip(big, shape, size=150, padding=0.25)
        ours = extract_chip(big, _dlib_points(shape))
        assert chip_transform(_dlib_points(shape)).rect[2] - chip_transform(
            _dlib_points(shape)).rect[0] > 300
        assert (np.abs(ours.astype(int) - theirs.astype(int)) <= 2).mean() >= 0.99


def test_framed_face_box_is_ints_inside_the_image():
    assert all(0 <= f <= 1 for f in FRAMED_FACE_BOX)
    left, top, right, bottom = framed_face_box(112, 92)
    assert all(isinstance(v, int) for v in (left, top, right, bottom))
    assert 0 <= left < right < 92 and 0 <= top < bottom < 112
    with pytest.raises(ValueError, match="height=0"):
        framed_face_box(0, 92)


def test_align_faces_shapes_and_grey_rgb_agree(faces):
    grey = faces[:4]
    chips = align_faces(grey)
    assert chips.shape == (4, 150, 150, 3) and chips.dtype == np.uint8
    rgb = np.repeat(grey[..., None], 3, axis=3)
    np.testing.assert_array_equal(align_faces(rgb), chips)
    mixed = align_faces([grey[0], np.pad(rgb[1], ((10, 0), (0, 20), (0, 0)))], size=64)
    assert mixed.shape == (2, 64, 64, 3)
    np.testing.assert_array_equal(mixed[0], align_faces(grey[:1], size=64)[0])
    box = framed_face_box(*grey.shape[1:])
    np.testing.assert_array_equal(align_faces(grey, boxes=[box] * 4), chips)


@pytest.mark.parametrize("images, message", [
    ([], "empty batch"),
    (np.full((2, 112, 92), np.nan), "NaN"),
    ("face.png", "face.png"),
    (np.zeros((112, 92), np.uint8), r"image\[None\]"),
    (np.zeros((112, 92, 3), np.uint8), r"image\[None\]"),
    (np.zeros((1, 112, 92, 4), np.uint8), r"\(112, 92, 4\)"),
    (np.zeros((1, 112, 92), np.float32), "float32"),
])
def test_align_faces_refuses_bad_input(images, message):
    with pytest.raises(ValueError, match=message):
        align_faces(images)


def test_align_faces_refuses_a_bad_box(faces):
    with pytest.raises(ValueError, match="one box per image"):
        align_faces(faces[:2], boxes=[(0, 0, 50, 50)])
    with pytest.raises(ValueError, match="box=.*nan"):
        align_faces(faces[:1], boxes=[(0, 0, np.nan, 50)])


def test_runtime_imports_neither_dlib_nor_tensorflow():
    code = ("import sys, zoo.faces.align; "
            "assert not {'dlib', 'tensorflow', 'keras'} & set(sys.modules), sys.modules.keys()")
    subprocess.run([sys.executable, "-c", code], check=True)
