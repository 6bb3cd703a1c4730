"""The training runner: resume after a kill, NaN stop, run folder contents."""

import json
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).parent / "scripts" / "train_digits.py"


def _train(run_dir, epochs, kill_at=None):
    args = [sys.executable, str(SCRIPT), str(run_dir), str(epochs)]
    if kill_at is not None:
        args.append(str(kill_at))
    return subprocess.run(args, capture_output=True, text=True, timeout=600)


def test_killed_run_resumes_to_the_same_weights(tmp_path):
    straight = _train(tmp_path / "straight", 3)
    assert straight.returncode == 0, straight.stderr[-2000:]

    killed = _train(tmp_path / "resumed", 3, kill_at=2)
    assert killed.returncode == -signal.SIGKILL
    assert not (tmp_path / "resumed" / "weights.npy").exists()
    meta = json.loads((tmp_path / "resumed" / "backup" / "training_metadata.json").read_text())
    assert meta["epoch"] == 2

    resumed = _train(tmp_path / "resumed", 3)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    run = json.loads((tmp_path / "resumed" / "run.json").read_text())
    assert run["resumed_from_epoch"] == 2
    assert len(run["epoch_seconds"]) == 3

    a = np.load(tmp_path / "straight" / "weights.npy")
    b = np.load(tmp_path / "resumed" / "weights.npy")
    np.testing.assert_allclose(b, a, rtol=0, atol=1e-6)
    history = (tmp_path / "resumed" / "history.csv").read_text().splitlines()
    assert len(history) == 1 + 3


def test_nan_loss_stops_with_a_clear_error(tmp_path):
    from zoo.training.runner import TrainingDivergedError, array_epochs, fit
    import zoo

    x = np.random.default_rng(0).random((32, 8, 8, 1)).astype("float32")
    x[5, 0, 0, 0] = np.nan
    y = np.arange(32) % 10
    model = zoo.create("fmnist_cnn", input_shape=(8, 8, 1), widths=(4,))
    with pytest.raises(TrainingDivergedError, match=r"loss became nan at epoch 1, batch 1"):
        fit(model, array_epochs(x, y, batch_size=32), epochs=2, run_dir=tmp_path, verbose=0)


def test_run_folder_holds_config_history_and_timings(tmp_path):
    from zoo.training.runner import array_epochs, fit
    import zoo

    rng = np.random.default_rng(0)
    x = rng.random((40, 8, 8, 1)).astype("float32")
    y = np.arange(40) % 10
    model = zoo.create("fmnist_cnn", input_shape=(8, 8, 1), widths=(4,))
    result = fit(model, array_epochs(x, y, batch_size=16), epochs=2, run_dir=tmp_path,
                 config={"recipe": "test"}, verbose=0)
    assert json.loads((tmp_path / "config.json").read_text())["recipe"] == "test"
    assert len(result.history["loss"]) == 2
    assert result.history["epoch"] == [0.0, 1.0]
    assert (tmp_path / "checkpoints" / "last.keras").exists()
    assert not (tmp_path / "backup").exists()  # removed once the run finished
    assert result.seconds > 0


def test_off_a_terminal_progress_lines_come_between_the_epoch_lines(tmp_path, monkeypatch, capsys):
    """verbose=2 (what "auto" picks without a terminal): Keras prints one line per
    epoch, at its end; `ProgressLines` adds `STEP/STEPS - Ns - ETA - loss` lines
    after the first batch and then every PROGRESS_SECONDS (0 here: every batch)."""
    import re

    from zoo.training import runner
    import zoo

    monkeypatch.setattr(runner, "PROGRESS_SECONDS", 0.0)
    x = np.random.default_rng(0).random((40, 8, 8, 1)).astype("float32")
    y = np.arange(40) % 10
    model = zoo.create("fmnist_cnn", input_shape=(8, 8, 1), widths=(4,))
    runner.fit(model, runner.array_epochs(x, y, batch_size=16), epochs=2, run_dir=tmp_path,
               verbose=2)
    lines = capsys.readouterr().out.splitlines()
    progress = [l for l in lines if re.fullmatch(r"  \d/3 - \d+s( - ETA \d+s)? - loss: \d+\.\d{4}.*", l)]
    assert [l.split()[0] for l in progress] == ["1/3", "2/3", "3/3"] * 2, lines
    assert "ETA" in progress[0] and "ETA" not in progress[2]
    assert "accuracy: " in progress[0]


def test_progress_lines_skip_epochs_shorter_than_the_interval(capsys):
    """Only the run's first batch prints when every epoch ends within the interval
    (150 epochs of 5 steps give 150 epoch lines, not 300 lines)."""
    from zoo.training.runner import ProgressLines

    progress = ProgressLines(seconds=3600)
    progress.set_params({"steps": 5, "epochs": 3})
    progress.on_train_begin()
    for epoch in range(3):
        progress.on_epoch_begin(epoch)
        for batch in range(5):
            progress.on_train_batch_end(batch, {"loss": 1.0})
        progress.on_epoch_end(epoch)
    assert capsys.readouterr().out.splitlines() == ["  1/5 - 0s - ETA 0s - loss: 1.0000"]
