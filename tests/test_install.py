"""A built wheel, installed outside any checkout, lists, pulls, checks and runs
an entry offline (the wheel once shipped no zoo/weights.json)."""

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _run(args, cwd, env):
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return result.stdout


def test_wheel_outside_the_checkout_lists_pulls_checks_and_loads(tmp_path):
    wheels, site, home = tmp_path / "wheels", tmp_path / "site", tmp_path / "cache"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    _run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", wheels, REPO], tmp_path, None)
    (wheel,) = wheels.glob("repr_zoo-*.whl")
    _run([*pip, "install", "--no-deps", "--target", site, wheel], tmp_path, None)
    assert not (site / "saved_models").exists()
    env = {**os.environ, "PYTHONPATH": str(site), "ZOO_HOME": str(home),
           "ZOO_WEIGHTS_URL": (REPO / "saved_models").as_uri()}  # a mirror of the artifacts
    python, cwd = [sys.executable, "-c"], tmp_path
    where = _run([*python, "import zoo; print(zoo.__file__)"], cwd, env)
    assert where.startswith(str(site))
    assert "vae" in _run([*python, "from zoo.cli import main; main(['list'])"], cwd, env)
    pulled = _run([*python, "from zoo.cli import main; main(['pull', 'vae'])"], cwd, env)
    assert pulled.strip().splitlines()[-1].startswith(str(home))
    env.pop("ZOO_WEIGHTS_URL")  # from here on, the verified cache alone
    checked = _run([*python, "import sys; from zoo.cli import main; sys.exit(main(['check', 'vae']))"],
                   cwd, env)
    assert "reconstruct" in checked and " no" not in checked
    code = _run([*python, "import numpy as np; from zoo import runtime; "
                 "print(runtime.load('vae').encode(np.zeros((2, 28, 28, 1), np.float32))['mean'].shape)"],
                cwd, env)
    assert "(2, 16)" in code
