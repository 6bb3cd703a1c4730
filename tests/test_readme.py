"""README code blocks run as written."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()


def python_block(heading: str) -> str:
    """The first ```python block after the line `heading`."""
    start = README.index(heading)
    return re.search(r"```python\n(.*?)```", README[start:], re.S).group(1)


@pytest.fixture(scope="module")
def face_cache(zoo_cache):
    """The session's cache, holding the built face_resnet (`zoo pull face_resnet`)."""
    from zoo import hub

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ZOO_HOME", str(zoo_cache))
        hub.pull("face_resnet")
    return zoo_cache


def test_face_resnet_walkthrough_runs_without_tensorflow(face_cache):
    block = python_block("### Walkthrough: five people enrolled")
    # tensorflow set to None in sys.modules makes any import of it fail.
    program = "import sys\nsys.modules['tensorflow'] = None\n" + block
    result = subprocess.run([sys.executable, "-c", program], cwd=REPO, capture_output=True,
                            text=True, timeout=600, env={**os.environ, "ZOO_HOME": str(face_cache)})
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    for p in range(31, 36):
        assert lines[p - 31] == f"s{p}: " + " ".join([f"s{p}"] * 5)
    strangers = " ".join(lines[5:10])
    assert strangers.count("unknown") == 20  # the card's 1:1 threshold lets 5 of 25 pass in 1:N
    assert lines[10:] == ["50", "25"]  # the stricter open-set threshold


def test_photo_pipeline_block_runs_without_tensorflow(face_cache, tmp_path):
    """The README's photo block, on a seeded scene with one face (photo.jpg) and
    one with three (group.png)."""
    from PIL import Image

    from training.datasets.face_scenes import face_scenes

    (one,) = face_scenes(1, seed=0, count=1, scale=(1.5, 1.5))
    (group,) = face_scenes(1, seed=1, count=3, scale=(1.2, 1.6))
    Image.fromarray(one.image).save(tmp_path / "photo.jpg", quality=95)
    Image.fromarray(group.image).save(tmp_path / "group.png")
    block = python_block("### From photos: detect, align, identify")
    program = ("import sys\nsys.modules['tensorflow'] = None\n" + block
               + "\nprint(len(face.embedding), len(everyone), face.box)\n")
    result = subprocess.run([sys.executable, "-c", program], cwd=tmp_path, capture_output=True,
                            text=True, timeout=600,
                            env={**os.environ, "ZOO_HOME": str(face_cache),
                                 "PYTHONPATH": str(REPO)})
    assert result.returncode == 0, result.stderr[-3000:]
    dim, found, _ = result.stdout.split(maxsplit=2)
    assert (int(dim), int(found)) == (128, len(group.boxes))
