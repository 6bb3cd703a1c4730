"""Every reader of dlib's `.dat` files refuses a tampered, truncated or unknown
file with a `DlibFormatError` that names the file and the fix."""

import pytest

from zoo.faces import assets
from zoo.faces.dlib_format import DlibFormatError
from zoo.faces.landmarks import ShapePredictor
from zoo.faces.mmod_dat import read_face_detector
from zoo.faces.resnet_dat import read_face_resnet

# (reader(path, sha256), file, a record name in it, an unknown name of the same length)
READERS = {
    "face_resnet": (read_face_resnet, "dlib_face_recognition_resnet_model_v1.dat",
                    b"\x05con_4", b"\x05con_9"),
    "face_detector": (read_face_detector, "mmod_human_face_detector.dat",
                      b"\x05relu_", b"\x05tanh_"),
    "landmarks": (lambda path, sha256: ShapePredictor.from_dat(path, sha256=sha256),
                  "shape_predictor_5_face_landmarks.dat", None, None),
}


def _copy(tmp_path, file, edit):
    data = bytearray(open(assets.model_path(file), "rb").read())
    path = tmp_path / "edited.dat"
    path.write_bytes(bytes(edit(data)))
    return path


@pytest.mark.parametrize("kind", sorted(READERS))
def test_the_pinned_file_reads(kind):
    read, file, _, _ = READERS[kind]
    assert read(assets.model_path(file), assets.sha256(file)) is not None


@pytest.mark.parametrize("kind", sorted(READERS))
def test_a_tampered_file_is_refused_by_its_hash(kind, tmp_path):
    read, file, _, _ = READERS[kind]

    def flip(data):
        data[len(data) // 2] ^= 0xFF
        return data
    path = _copy(tmp_path, file, flip)
    with pytest.raises(DlibFormatError, match="sha256") as error:
        read(path, assets.sha256(file))
    assert str(path) in str(error.value) and "pip install" in str(error.value)


@pytest.mark.parametrize("kind", sorted(READERS))
@pytest.mark.parametrize("keep", [1 / 3, 0.999])
def test_a_truncated_file_is_refused_naming_the_file(kind, keep, tmp_path):
    read, file, _, _ = READERS[kind]
    path = _copy(tmp_path, file, lambda data: data[: int(len(data) * keep)])
    with pytest.raises(DlibFormatError) as error:
        read(path, None)
    assert str(path) in str(error.value) and "pip install" in str(error.value)


@pytest.mark.parametrize("kind", [k for k in sorted(READERS) if READERS[k][2]])
def test_an_unknown_record_is_refused(kind, tmp_path):
    read, file, known, unknown = READERS[kind]
    path = _copy(tmp_path, file, lambda data: data.replace(known, unknown, 1))
    with pytest.raises(DlibFormatError, match=f"unknown record '{unknown[1:].decode()}'"):
        read(path, None)


def test_an_unsupported_version_is_refused(tmp_path):
    path = _copy(tmp_path, "shape_predictor_5_face_landmarks.dat", lambda data: b"\x01\x02" + data[2:])
    with pytest.raises(DlibFormatError, match="version 2"):
        ShapePredictor.from_dat(path)
