"""What the `zoo` command prints besides its result: no TensorFlow or absl
log lines unless ZOO_DEBUG is set, and progress where a step takes long."""

import io
import json
import os
import re
import subprocess
import sys
import time

import pytest

from tests.conftest import require_data
from zoo.training import datasets

# TensorFlow's and absl's C++ log lines ("I0000 00:00:1796310342.505089 25666
# cpu_feature_guard.cc:227] ...", "E0000 ... use_unbounded_threadpool ..."),
# absl's preamble and the oneDNN / CPU-feature notes.
LOG_NOISE = re.compile(r"^[IWEF]\d{4} \d\d:\d\d:|absl::InitializeLog|oneDNN|cpu_feature_guard"
                       r"|To enable the following instructions|tensorflow/core")


def zoo_cli(*args, **env):
    environ = {k: v for k, v in os.environ.items() if k not in ("ZOO_DEBUG", "TF_CPP_MIN_LOG_LEVEL")}
    return subprocess.run([sys.executable, "-m", "zoo.cli", *map(str, args)], capture_output=True,
                          text=True, timeout=600, env={**environ, **env})


def noise(stderr):
    return [line for line in stderr.splitlines() if LOG_NOISE.search(line)]


def test_tensorflow_start_up_lines_show_only_under_zoo_debug():
    """Importing TensorFlow after `zoo.backend` prints nothing; with ZOO_DEBUG=1 it
    prints the lines the pattern matches (so the tests below would see them)."""
    def run(**env):
        environ = {k: v for k, v in os.environ.items() if k not in ("ZOO_DEBUG", "TF_CPP_MIN_LOG_LEVEL")}
        result = subprocess.run([sys.executable, "-c", "import zoo.backend, tensorflow"],
                                capture_output=True, text=True, timeout=600, env={**environ, **env})
        assert result.returncode == 0, result.stderr[-2000:]
        return result.stderr

    assert run() == ""
    assert noise(run(ZOO_DEBUG="1"))


def test_list_prints_nothing_on_stderr():
    result = zoo_cli("list")
    assert result.returncode == 0 and result.stderr == ""


def test_a_tiny_training_prints_no_tensorflow_log_lines(tmp_path):
    """`zoo train triplet_embed --quick` once printed the absl preamble, the CPU
    notes and an `E0000 ... use_unbounded_threadpool` line of ~600 characters
    (its P x K tf.data pipeline)."""
    require_data(datasets.load_fashion_mnist, "test")
    result = zoo_cli("train", "triplet_embed", "--quick", "--run-dir", tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert noise(result.stderr) == [], result.stderr[-3000:]
    assert result.stderr == "", result.stderr[-3000:]
    assert re.search(r"^  1/\d+ - \d+s", result.stdout, re.M), result.stdout[-2000:]  # ProgressLines


def test_eval_says_what_it_does_on_stderr_and_prints_only_json_on_stdout():
    require_data(datasets.load_fashion_mnist, "test")
    result = zoo_cli("eval", "fmnist_cnn")
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout)["test"]["n"] == 10_000
    lines = result.stderr.splitlines()
    assert lines[0] == "zoo: loading fmnist_cnn (published weights) ..."
    assert re.fullmatch(r"zoo: evaluating fmnist_cnn with its recipe: done in \d+s", lines[-1])
    assert noise(result.stderr) == []


def test_heartbeat_prints_a_line_every_interval_and_the_time_at_the_end():
    from zoo.progress import heartbeat

    out = io.StringIO()
    with heartbeat("counting", every=0.05, stream=out):
        time.sleep(0.3)
    lines = out.getvalue().splitlines()
    assert lines[0] == "zoo: counting ..."
    assert len(lines) >= 4 and all(re.fullmatch(r"zoo: counting \.\.\. \d+s", l) for l in lines[1:-1])
    assert lines[-1] == "zoo: counting: done in 0s"


def test_heartbeat_stops_without_a_done_line_on_error():
    from zoo.progress import heartbeat

    out = io.StringIO()
    with pytest.raises(KeyError):
        with heartbeat("failing", every=0.05, stream=out):
            raise KeyError("x")
    time.sleep(0.1)
    assert out.getvalue() == "zoo: failing ...\n"
    with pytest.raises(ValueError, match="every=0"):
        with heartbeat("x", every=0):
            pass


def test_verify_takes_image_files_for_any_embedding_entry_and_says_when_it_cannot_decide(tmp_path):
    """An embedding entry verifies through its `embed` graph and the card's distance
    (a PNG and a .npy here); cross_domain's card has no threshold, so it prints the
    score and "no decision", exit 0, instead of failing."""
    import numpy as np
    from PIL import Image

    images, _ = require_data(datasets.load_fashion_mnist, "test")
    Image.fromarray(images[0]).save(tmp_path / "a.png")
    np.save(tmp_path / "b.npy", images[0])
    same = zoo_cli("verify", "triplet_embed", tmp_path / "a.png", tmp_path / "b.npy")
    assert same.returncode == 0, same.stderr
    assert re.fullmatch(r"1\.0000 match \(threshold 0\.\d{4}, greater\)\n", same.stdout), same.stdout
    undecided = zoo_cli("verify", "cross_domain", tmp_path / "a.png", tmp_path / "b.npy")
    assert undecided.returncode == 0, undecided.stderr
    assert undecided.stdout == ("1.0000 no decision (the card of cross_domain has no threshold; "
                                "cosine, greater is closer)\n")
