"""Training under tf.distribute: the same steps as one device on the global batch.

The training runs are subprocesses (tests/scripts/train_distributed.py): two
logical CPU devices must be configured before TensorFlow starts, and
MultiWorkerMirroredStrategy needs one process per worker. The models are the
tiny fmnist_cnn and triplet_embed on 8x8 digits; global batches of 32.
"""

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import require_data
from zoo.training import datasets

SCRIPT = Path(__file__).parent / "scripts" / "train_distributed.py"


def _script(*args, env=None, timeout=600):
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, env=env)


@pytest.mark.parametrize("model, n", [("fmnist_cnn", 128), ("triplet_embed", 128),
                                      ("fmnist_cnn", 113)])
def test_mirrored_matches_one_device_on_the_global_batch(tmp_path, model, n):
    """Two replicas of 16 images take the steps one device takes on 32.

    Compared: the running-mean loss after each of the first 8 steps and the
    final weights, for Keras fit and for the custom loop under
    MirroredStrategy. Both models have BatchNorm (synchronised over the
    replicas while training); triplet_embed's batch-hard loss mines the
    global batch. With 113 images each epoch ends on a batch of 17, split
    9 / 8: only the custom loop weights the replicas' losses by their sizes
    (Keras fit averages the two means, the known limit).
    """
    run = _script("compare", tmp_path, model, n)
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads((tmp_path / "compare.json").read_text())
    one = report["one_device"]
    assert len(one["losses"]) == 8 and np.all(np.isfinite(one["losses"]))
    for name in ("mirrored_fit", "mirrored_custom") if n % 32 == 0 else ("mirrored_custom",):
        np.testing.assert_allclose(report[name]["losses"], one["losses"], rtol=0, atol=1e-5,
                                   err_msg=name)
        np.testing.assert_allclose(report[name]["weights"], one["weights"], rtol=0, atol=1e-5,
                                   err_msg=name)


def test_mining_losses_mine_the_global_batch(tmp_path):
    """A batch of 16 sorted by label: replica 0 holds classes 0-1, replica 1
    classes 2-3. Mined per replica, an anchor never meets the other half's
    negatives, so the loss differs; gathered over the replicas, the loss (the
    sum of the replicas' shares) and the gradient of every embedding are the
    one-device ones on the whole batch."""
    run = _script("mining", tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads((tmp_path / "mining.json").read_text())
    assert set(report) == {"triplet_hard", "triplet_semi_hard", "ranking", "margin_all",
                           "margin_distance"}
    for name, row in report.items():
        assert row["global"] == pytest.approx(row["one_device"], abs=1e-5), name
        assert row["max_grad_diff"] <= 1e-5, name
        assert abs(row["per_replica"] - row["one_device"]) > 1e-2, name


def test_custom_loop_resumes_after_a_kill(tmp_path):
    """The custom loop (under two mirrored replicas) keeps the runner's
    contract: killed when epoch 3 begins, the same command resumes from
    epoch 2 and ends with the weights of an uninterrupted run."""
    straight = _script("train", tmp_path / "straight", "mirrored2", "custom", 3)
    assert straight.returncode == 0, straight.stderr[-3000:]

    killed = _script("train", tmp_path / "resumed", "mirrored2", "custom", 3, 2)
    assert killed.returncode == -signal.SIGKILL
    resumed = _script("train", tmp_path / "resumed", "mirrored2", "custom", 3)
    assert resumed.returncode == 0, resumed.stderr[-3000:]

    run = json.loads((tmp_path / "resumed" / "run.json").read_text())
    assert run["resumed_from_epoch"] == 2 and len(run["epoch_seconds"]) == 3
    history = (tmp_path / "resumed" / "history.csv").read_text().splitlines()
    assert len(history) == 1 + 3 and "val_loss" in history[0]
    np.testing.assert_allclose(np.load(tmp_path / "resumed" / "weights.npy"),
                               np.load(tmp_path / "straight" / "weights.npy"), rtol=0, atol=1e-6)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _two_workers(run_dir, *args):
    """Run the script's `train` as worker 0 and 1 of a cluster on 127.0.0.1."""
    workers = [f"127.0.0.1:{_free_port()}" for _ in range(2)]
    procs = []
    for index in range(2):
        config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
        procs.append(subprocess.Popen(
            [sys.executable, str(SCRIPT), "train", str(run_dir), "multiworker", "auto",
             *map(str, args)],
            env={**os.environ, "TF_CONFIG": json.dumps(config)}, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True))
    try:
        errors = [p.communicate(timeout=300)[1] for p in procs]
    finally:
        for p in procs:  # a worker whose peer died would wait for it forever
            if p.poll() is None:
                p.kill()
                p.wait()
    return [p.returncode for p in procs], errors


def test_multiworker_trains_resumes_and_saves_a_checkpoint_one_process_loads(tmp_path):
    """Two worker processes on 127.0.0.1 (MultiWorkerMirroredStrategy, the
    custom loop) train 2 epochs. Both are killed when epoch 2 begins, and the
    same command resumes them from their backups. The chief writes the run
    folder, worker 1 writes workers/worker-1. The weights are one device's
    on the global batch, and the chief's last.keras loads in this process."""
    from zoo.saving import load_model

    run_dir = tmp_path / "multi"
    codes, errors = _two_workers(run_dir, 2, 1)
    assert codes == [-signal.SIGKILL] * 2, [e[-2000:] for e in errors]
    codes, errors = _two_workers(run_dir, 2)
    assert codes == [0, 0], [e[-2000:] for e in errors]

    for folder in (run_dir, run_dir / "workers" / "worker-1"):
        run = json.loads((folder / "run.json").read_text())
        assert run["completed"] and run["resumed_from_epoch"] == 1
        history = (folder / "history.csv").read_text().splitlines()
        assert len(history) == 1 + 2 and "val_loss" in history[0]
        assert not (folder / "backup").exists()

    one = _script("train", tmp_path / "one", "default", "keras", 2)
    assert one.returncode == 0, one.stderr[-3000:]
    weights = np.load(run_dir / "weights.npy")
    np.testing.assert_allclose(weights, np.load(tmp_path / "one" / "weights.npy"), rtol=0,
                               atol=1e-5)

    model = load_model(run_dir / "checkpoints" / "last.keras")
    loaded = np.concatenate([w.ravel() for w in model.get_weights()])
    np.testing.assert_array_equal(loaded, weights)
    x = np.random.default_rng(0).random((3, 8, 8, 1)).astype("float32")
    assert model.predict(x, verbose=0).shape == (3, 10)


def _zoo(*args, env=None):
    return subprocess.run([sys.executable, "-m", "zoo.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=600, env=env)


def test_cli_trains_with_the_mirrored_strategy(tmp_path):
    require_data(datasets.load_fashion_mnist, "test")
    run = _zoo("train", "fmnist_cnn", "--quick", "--epochs", "1", "--strategy", "mirrored",
               "--run-dir", tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    assert json.loads((tmp_path / "result.json").read_text())["metrics"]["test"]["n"] == 1000
    assert (tmp_path / "checkpoints" / "last.keras").exists()


def test_cli_multiworker_without_tf_config_is_a_usage_error(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    run = _zoo("train", "fmnist_cnn", "--quick", "--strategy", "multiworker",
               "--run-dir", tmp_path, env=env)
    assert run.returncode == 2
    errors = [line for line in run.stderr.splitlines() if line.startswith("zoo: error:")]
    assert len(errors) == 1 and "Traceback" not in run.stderr
    assert "TF_CONFIG" in errors[0] and '"cluster"' in errors[0] and "unset" in errors[0]
    assert not (tmp_path / "checkpoints").exists()


@pytest.mark.parametrize("value, problem", [
    (None, "unset"),
    ("{not json", "not valid JSON"),
    ('{"cluster": {"worker": ["a:1"]}}', "'task'"),
    ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 1}}', "index"),
    ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "chief", "index": 0}}', "type"),
])
def test_bad_tf_config_is_refused_with_an_example(value, problem):
    from zoo.training.distribute import StrategyConfigError, check_tf_config

    with pytest.raises(StrategyConfigError, match="TF_CONFIG") as error:
        check_tf_config(value)
    assert problem in str(error.value) and '"task": {"type": "worker"' in str(error.value)


def test_good_tf_config_is_accepted():
    from zoo.training.distribute import check_tf_config

    config = {"cluster": {"chief": ["a:1"], "worker": ["b:1", "c:1"]},
              "task": {"type": "worker", "index": 1}}
    assert check_tf_config(json.dumps(config)) == config


def test_replica_helpers_are_no_ops_on_one_device():
    from zoo.losses.replicas import gather_replicas, num_replicas, replica_share
    from zoo.losses import TripletLoss
    from zoo.training.distribute import global_batch_weight

    labels, embeddings = np.arange(4), np.ones((4, 2), "float32")
    assert num_replicas() == 1
    gathered_labels, gathered = gather_replicas(labels, embeddings)
    assert gathered_labels is labels and gathered is embeddings
    assert float(replica_share(np.float32(3.0))) == 3.0
    assert global_batch_weight(embeddings) == 1.0
    loss = TripletLoss(global_batch=False)
    assert TripletLoss.from_config(loss.get_config()).global_batch is False


def test_custom_loop_stops_on_nan_with_the_runner_error(tmp_path):
    from zoo.training.runner import TrainingDivergedError, array_epochs, fit
    import zoo

    x = np.random.default_rng(0).random((32, 8, 8, 1)).astype("float32")
    x[5, 0, 0, 0] = np.nan
    model = zoo.create("fmnist_cnn", input_shape=(8, 8, 1), widths=(4,))
    with pytest.raises(TrainingDivergedError, match=r"loss became nan at epoch 1, batch 1"):
        fit(model, array_epochs(x, np.arange(32) % 10, batch_size=32), epochs=2,
            run_dir=tmp_path, verbose=0, loop="custom")


def test_custom_loop_writes_the_run_folder_of_fit(tmp_path):
    from zoo.training.runner import array_epochs, fit
    import zoo

    x = np.random.default_rng(0).random((40, 8, 8, 1)).astype("float32")
    y = np.arange(40) % 10
    model = zoo.create("fmnist_cnn", input_shape=(8, 8, 1), widths=(4,))
    result = fit(model, array_epochs(x, y, batch_size=16), epochs=2, run_dir=tmp_path,
                 validation=array_epochs(x, y, 16).make(0), verbose=0, loop="custom")
    assert result.history["epoch"] == [0.0, 1.0]
    assert {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(result.history)
    assert len(json.loads((tmp_path / "timings.json").read_text())) == 2
    assert (tmp_path / "checkpoints" / "best.keras").exists()
    assert (tmp_path / "checkpoints" / "last.keras").exists()
    assert not (tmp_path / "backup").exists()
