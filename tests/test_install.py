"""The wheels, installed outside any checkout, list, pull, check and run entries
offline (the wheel once shipped no zoo/weights.json, installed top-level
`training` and `export` packages, and found weights only at an unhosted URL).

The wheels are built from a clean copy of the sources (no stale build/) into a
venv whose dependencies are the running environment's, minus this project.
"""

import ast
import os
import re
import shutil
import site
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[1]
SOURCES = ("setup.cfg", "setup.py", "pyproject.toml", "README.md", "zoo", "training", "export")
PACKED = ("vae", "face_resnet")  # a small published entry, and a derived one (card + test data)
PIP = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]


def _run(args, cwd, env=None, timeout=900):
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return result.stdout


def _venv(root: Path, deps: Path) -> Path:
    """A venv at `root` (no pip) whose only extra path is `deps`; its python."""
    venv.create(root, with_pip=False, symlinks=True)
    python = root / "bin" / "python"
    purelib = _run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], root)
    (Path(purelib.strip()) / "_deps.pth").write_text(f"{deps}\n")
    return python


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """(main wheel, weights wheel, deps folder), built once for the module;
    the source copy has a stale build/lib/training/, which must not ship."""
    pytest.importorskip("setuptools", reason="builds the wheel without network (--no-build-isolation)")
    tmp = tmp_path_factory.mktemp("install")
    source, out = tmp / "source", tmp / "wheels"
    for name in SOURCES:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            source.mkdir(exist_ok=True)
            shutil.copy2(REPO / name, source / name)
    stale = source / "build" / "lib" / "training"  # an older layout's build output
    stale.mkdir(parents=True)
    (stale / "__init__.py").write_text("")
    _run([*PIP, "wheel", "--no-deps", "--no-build-isolation", "-w", out, source], tmp)
    (main,) = out.glob("repr_zoo-*.whl")
    from zoo.export import weights_wheel

    weights = weights_wheel.build(REPO / "saved_models", out, PACKED)
    deps = tmp / "deps"  # the running environment's packages, without this project
    deps.mkdir()
    for folder in map(Path, site.getsitepackages()):
        for entry in folder.iterdir():
            skip = entry.name.startswith(("repr_zoo", "__editable__")) or entry.suffix == ".pth" \
                or entry.name in ("zoo", "training", "export", "benchmarks")
            if not skip and not (deps / entry.name).exists():
                (deps / entry.name).symlink_to(entry)
    return main, weights, deps


def test_wheel_ships_one_top_level_package_and_its_data(built):
    main, _, _ = built
    names = zipfile.ZipFile(main).namelist()
    assert {n.split("/")[0] for n in names} == {"zoo", "repr_zoo-0.1.0.dist-info"}
    assert "zoo/weights.json" in names
    for folder in ("training", "export"):  # every module of the repo folder, under zoo/
        for path in (REPO / folder).rglob("*.py"):
            assert f"zoo/{path.relative_to(REPO).as_posix()}" in names


def test_no_code_imports_the_repo_folders_as_top_level_packages():
    """They exist only as zoo.training and zoo.export in a wheel; a checkout
    would hide a stale top-level import of them, which the wheel breaks."""
    stale = []
    folders = [d for d in REPO.iterdir() if d.is_dir() and (d / "__init__.py").is_file()]
    for path in [p for d in folders for p in d.rglob("*.py")] + list(REPO.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module] if isinstance(node, ast.ImportFrom) and node.module and not node.level else []
            stale += [f"{path.relative_to(REPO)}:{node.lineno}" for n in names
                      if n.split(".")[0] in ("training", "export")]
    for doc in ("README.md", "Makefile"):
        text = (REPO / doc).read_text()
        stale += [f"{doc}: {m.group(0)}" for m in
                  re.finditer(r"(?<![\w.])(?:from|import|-m) (?:training|export)\b", text)]
    assert not stale, stale


def _requirements(main, extras):
    """The distributions pip installs for `repr-zoo[extras]` on this platform
    (pip's rule: the base has no extra, each extra is evaluated on its own)."""
    metadata = zipfile.ZipFile(main).read("repr_zoo-0.1.0.dist-info/METADATA").decode()
    chosen = []
    for line in metadata.splitlines():
        if line.startswith("Requires-Dist: "):
            req = Requirement(line.split(": ", 1)[1])
            contexts = [{"extra": e} for e in ("", *extras)]
            if req.marker is None or any(req.marker.evaluate(c) for c in contexts):
                chosen.append(req)
    return chosen


@pytest.mark.parametrize("extras", [(), ("dev",), ("cpu",), ("gpu",), ("dev", "gpu"),
                                    ("dev", "cpu", "faiss", "faces"), ("dev", "gpu", "faiss", "faces")])
def test_extras_install_at_most_one_tensorflow(built, extras):
    chosen = _requirements(built[0], extras)
    tensorflows = [r for r in chosen if r.name in ("tensorflow", "tensorflow-cpu")]
    assert len(tensorflows) == (1 if {"cpu", "gpu"} & set(extras) else 0), tensorflows
    if "gpu" in extras:
        assert tensorflows[0].name == "tensorflow" and tensorflows[0].extras == {"and-cuda"}
    if "cpu" in extras and sys.platform.startswith("linux"):
        assert tensorflows[0].name == "tensorflow-cpu"


def test_weights_wheel_holds_exactly_the_published_files(built, tmp_path):
    from zoo.export import weights_wheel
    from zoo.registry import get

    _, weights, _ = built
    names = set(zipfile.ZipFile(weights).namelist())
    for name in PACKED:
        for file in get(name).weights:
            assert f"repr_zoo_weights/{name}/{file}" in names
    assert not [n for n in names if n.endswith(("model.keras", ".onnx")) and "/face_resnet/" in n]
    stale = tmp_path / "saved_models"  # a file that differs from zoo/weights.json is refused
    shutil.copytree(REPO / "saved_models" / "vae", stale / "vae", ignore=shutil.ignore_patterns("savedmodel"))
    (stale / "vae" / "card.json").write_text("{}")
    with pytest.raises(ValueError, match="card.json has sha256"):
        weights_wheel.build(stale, tmp_path / "out", ["vae"])


def test_installed_wheels_list_check_and_load_offline(built, tmp_path):
    main, weights, deps = built
    python = _venv(tmp_path / "venv", deps)
    _run([*PIP, "--python", python, "install", "--no-deps", "--no-index", main, weights], tmp_path)
    bin_zoo = python.parent / "zoo"
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "ZOO_WEIGHTS_URL")}
    env["ZOO_HOME"] = str(tmp_path / "cache")
    where = _run([python, "-c", "import zoo, zoo.training.runner, zoo.export.onnx as o; print(o.__file__)"],
                 cwd, env)
    assert where.startswith(str(tmp_path / "venv"))
    assert "No module named 'training'" in subprocess.run(
        [python, "-c", "import training"], cwd=cwd, env=env, capture_output=True, text=True).stderr
    assert "vae " in _run([bin_zoo, "list"], cwd, env)
    assert '"derived"' in _run([bin_zoo, "info", "face_resnet"], cwd, env)  # its card, from the weights wheel
    checked = _run([bin_zoo, "check", "vae"], cwd, env)
    assert "reconstruct" in checked and str(tmp_path / "cache" / "vae") in checked.splitlines()[-1]
    shape = _run([python, "-c", "import sys; sys.modules['tensorflow'] = None\n"  # the runtime needs no TF
                  "import numpy as np; from zoo import runtime\n"
                  "print(runtime.load('vae').encode(np.zeros((2, 28, 28, 1), np.float32))['mean'].shape)"],
                 cwd, env)
    assert "(2, 16)" in shape
    # A mirror of saved_models/ (here the checkout's) fills the cache the same way.
    env["ZOO_WEIGHTS_URL"], env["ZOO_HOME"] = (REPO / "saved_models").as_uri(), str(tmp_path / "mirror")
    pulled = _run([bin_zoo, "pull", "fmnist_cnn"], cwd, env)
    assert pulled.strip().splitlines()[-1].startswith(str(tmp_path / "mirror"))
    env.pop("ZOO_WEIGHTS_URL")
    assert "(1, 10)" in _run([python, "-c", "import numpy as np; from zoo import runtime\n"
                              "print(runtime.load('fmnist_cnn').classify(np.zeros((1, 28, 28), np.uint8)).shape)"],
                             cwd, env)


def test_editable_install_maps_the_repo_folders(built, tmp_path):
    _, _, deps = built
    python = _venv(tmp_path / "venv", deps)
    _run([*PIP, "--python", python, "install", "--no-deps", "--no-build-isolation", "-e", REPO], tmp_path)
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    where = _run([python, "-c", "import zoo.training.runner as r, zoo.export.onnx as o\n"
                  "print(r.__file__); print(o.__file__)"], cwd, env)
    assert where.split() == [str(REPO / "training" / "runner.py"), str(REPO / "export" / "onnx.py")]
