"""The `zoo` command: help, exit codes, one-line errors, train -> export -> check."""

import json
import subprocess
import sys

import pytest

from tests.conftest import require_data
from zoo.training import datasets


def zoo_cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "zoo.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=600, env=env)


def _one_line_error(result):
    lines = [l for l in result.stderr.splitlines() if l.startswith("zoo: error:")]
    assert len(lines) == 1, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    return lines[0]


@pytest.mark.parametrize("command", ["", "list", "info", "train", "eval", "export", "check", "pull", "gallery"])
def test_help(command):
    result = zoo_cli(*([command] if command else []), "--help")
    assert result.returncode == 0 and "usage: zoo" in result.stdout


def test_no_command_prints_help_and_exits_2():
    result = zoo_cli()
    assert result.returncode == 2 and "usage: zoo" in result.stdout


def test_list():
    result = zoo_cli("list")
    assert result.returncode == 0
    assert any(line.startswith("fmnist_cnn ") for line in result.stdout.splitlines())


def test_info_prints_the_spec():
    result = zoo_cli("info", "fmnist_cnn")
    assert result.returncode == 0
    assert json.loads(result.stdout)["task"] == "classification"


def test_unknown_model_exits_2_with_close_matches():
    result = zoo_cli("info", "fmnist_cn")
    assert result.returncode == 2
    assert "Did you mean: fmnist_cnn" in _one_line_error(result)


def test_check_of_a_folder_without_card_exits_1(tmp_path):
    result = zoo_cli("check", tmp_path)
    assert result.returncode == 1
    assert "no card.json" in _one_line_error(result)


def test_eval_of_an_empty_run_dir_says_what_to_do(tmp_path):
    result = zoo_cli("eval", "fmnist_cnn", "--run-dir", tmp_path)
    assert result.returncode == 1
    assert "zoo train" in _one_line_error(result)


def test_train_export_check(tmp_path):
    require_data(datasets.load_fashion_mnist, "test")
    run, out = tmp_path / "run", tmp_path / "artifact"
    trained = zoo_cli("train", "fmnist_cnn", "--quick", "--run-dir", run)
    assert trained.returncode == 0, trained.stderr[-2000:]
    result = json.loads((run / "result.json").read_text())
    assert 0.0 <= result["metrics"]["test"]["accuracy"] <= 1.0
    assert '"run_dir"' in trained.stdout

    exported = zoo_cli("export", "fmnist_cnn", "--run-dir", run, "--out", out)
    assert exported.returncode == 0, exported.stderr[-2000:]
    assert "onnxruntime" in exported.stdout and (out / "card.json").exists()

    checked = zoo_cli("check", out)
    assert checked.returncode == 0, checked.stderr[-2000:]

    again = zoo_cli("export", "fmnist_cnn", "--run-dir", run, "--out", out)
    assert again.returncode == 1 and "--force" in _one_line_error(again)

    evaluated = zoo_cli("eval", "fmnist_cnn", "--run-dir", run)
    assert evaluated.returncode == 0, evaluated.stderr[-2000:]
    assert json.loads(evaluated.stdout)["test"]["n"] == 10_000


def _every_model():
    import zoo

    return zoo.list_models()


@pytest.mark.parametrize("name", _every_model())
def test_every_entry_trains_exports_and_checks_through_the_cli(name, tmp_path):
    """`zoo train NAME --quick` (the tiny spec), `zoo export` to a temp folder,
    `zoo check` on it: the path a user takes, for every entry (`zoo train vae`
    once failed on every run and no test saw it)."""
    require_data(datasets.load_fashion_mnist, "test")
    run, out = tmp_path / "run", tmp_path / "artifact"
    trained = zoo_cli("train", name, "--quick", "--run-dir", run)
    assert trained.returncode == 0, trained.stderr[-2000:]
    assert json.loads((run / "result.json").read_text())["metrics"]
    exported = zoo_cli("export", name, "--run-dir", run, "--out", out)
    assert exported.returncode == 0, exported.stderr[-2000:]
    checked = zoo_cli("check", out)
    assert checked.returncode == 0, checked.stdout[-1000:] + checked.stderr[-2000:]
    graphs = json.loads((out / "card.json").read_text())["graphs"]
    assert checked.stdout.strip().splitlines()[-1].endswith(
        f"{len(graphs)} of {len(graphs)} graphs pass on every engine")


def test_verify_prints_score_and_decision_and_exits_0_both_ways(tmp_path):
    """`zoo verify NAME A B`: same ORL person -> match, another person -> no
    match, each at the card threshold, exit 0 in both cases."""
    import numpy as np

    from zoo.training.datasets.orl_faces import load_orl_faces

    images, labels = load_orl_faces()
    for name, image in {"a": images[labels == 39][0], "b": images[labels == 39][1],
                        "c": images[labels == 38][0]}.items():
        np.save(tmp_path / f"{name}.npy", image)
    same = zoo_cli("verify", "face_verify", tmp_path / "a.npy", tmp_path / "b.npy", "--resize")
    other = zoo_cli("verify", "face_verify", tmp_path / "a.npy", tmp_path / "c.npy", "--resize")
    assert same.returncode == 0 and other.returncode == 0, same.stderr + other.stderr
    from zoo.hub import LOCAL_WEIGHTS_DIR

    card = json.loads((LOCAL_WEIGHTS_DIR / "face_verify" / "card.json").read_text())
    rule = card["threshold"]  # face_verify: a euclidean distance, "less"
    for result, decision in ((same, "match"), (other, "no match")):
        score, rest = result.stdout.strip().split(" ", 1)
        assert rest == f"{decision} (threshold {rule['value']:.4f}, {rule['direction']})"
        passes = float(score) <= rule["value"] if rule["direction"] == "less" else float(score) >= rule["value"]
        assert passes == (decision == "match")
    np.save(tmp_path / "many.npy", images[:3])
    many = zoo_cli("verify", "face_verify", tmp_path / "many.npy", tmp_path / "b.npy")
    assert many.returncode == 2 and "one image per file" in _one_line_error(many)
