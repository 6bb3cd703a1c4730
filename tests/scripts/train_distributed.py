"""Tiny zoo models on scikit-learn digits under tf.distribute; used by
tests/test_distribute.py.

Usage:
    python train_distributed.py compare OUT MODEL N
        One process, two logical CPU devices: trains MODEL (fmnist_cnn or
        triplet_embed, tiny) on N digits for 2 epochs of batches of 32 on one
        device, under MirroredStrategy with Keras fit, and under
        MirroredStrategy with the custom loop. Writes OUT/compare.json: per
        run, the running-mean loss after each step and the final weights.
    python train_distributed.py mining OUT
        Each mining loss on a batch of 16 split over two replicas, mined
        over the global batch and per replica, and on one device. Writes
        OUT/mining.json.
    python train_distributed.py train RUN_DIR STRATEGY LOOP EPOCHS [KILL_AT]
        One run; STRATEGY default, mirrored2 (two logical CPUs) or
        multiworker (TF_CONFIG). With KILL_AT the process SIGKILLs itself
        when that epoch begins. Writes weights.npy into the worker's folder.
"""

import json
import os
import signal
import sys
from pathlib import Path

import numpy as np
import tensorflow as tf

if sys.argv[1] in ("compare", "mining") or sys.argv[3:4] == ["mirrored2"]:
    # Must run before TensorFlow initialises its devices.
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import keras  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402

import zoo  # noqa: E402
from zoo.training import distribute  # noqa: E402
from zoo.training.runner import array_epochs, fit  # noqa: E402

MODELS = {
    "fmnist_cnn": {"input_shape": (8, 8, 1), "widths": (4, 8)},
    "triplet_embed": {"input_shape": (8, 8, 1), "widths": (4, 8), "embedding_dim": 8},
}


class StepLosses(keras.callbacks.Callback):
    """The running-mean loss after each training step, and a SIGKILL at an epoch."""

    def __init__(self, kill_at=None):
        super().__init__()
        self.losses, self.kill_at = [], kill_at

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.kill_at:
            os.kill(os.getpid(), signal.SIGKILL)

    def on_train_batch_end(self, batch, logs=None):
        self.losses.append(float(logs["loss"]))


def digits(n=128):
    data = load_digits()
    return (data.images[:n, :, :, None] / 16.0).astype("float32"), data.target[:n].astype("int64")


def train(run_dir, strategy, model_name="fmnist_cnn", loop="auto", epochs=2, kill_at=None,
          n=128):
    x, y = digits(n)
    steps = StepLosses(kill_at)
    with strategy.scope():
        keras.utils.set_random_seed(0)
        model = zoo.create(model_name, **MODELS[model_name])
        result = fit(model, array_epochs(x, y, batch_size=32, seed=1), epochs=epochs,
                     run_dir=run_dir, validation=array_epochs(x[:64], y[:64], 32).make(0),
                     callbacks=[steps], verbose=0, loop=loop)
    weights = np.concatenate([w.ravel() for w in model.get_weights()])
    np.save(result.run_dir / "weights.npy", weights)
    return steps.losses, weights


def compare(out, model_name, n):
    two = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    runs = {"one_device": (tf.distribute.get_strategy(), "keras"),
            "mirrored_fit": (two, "keras"), "mirrored_custom": (two, "custom")}
    report = {}
    for name, (strategy, loop) in runs.items():
        losses, weights = train(Path(out) / name, strategy, model_name, loop, n=n)
        report[name] = {"losses": losses, "weights": weights.tolist()}
    (Path(out) / "compare.json").write_text(json.dumps(report))


def mining(out):
    from zoo.losses import MarginLoss, RankingLoss, TripletLoss

    two = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    rng = np.random.default_rng(0)
    embeddings = rng.normal(size=(16, 4)).astype("float32")
    labels = np.repeat(np.arange(4), 4)  # replica 0 holds classes 0-1, replica 1 classes 2-3
    cases = {"triplet_hard": (TripletLoss, {"mining": "hard"}),
             "triplet_semi_hard": (TripletLoss, {"mining": "semi_hard"}),
             "ranking": (RankingLoss, {}),
             "margin_all": (MarginLoss, {"beta": 1.2, "negative_sampling": "all"}),
             "margin_distance": (MarginLoss, {"beta": 1.2, "seed": 3})}
    batch = next(iter(two.experimental_distribute_dataset(
        tf.data.Dataset.from_tensor_slices((labels, embeddings)).batch(16))))
    report = {}
    for name, (cls, kwargs) in cases.items():
        e = tf.constant(embeddings)
        with tf.GradientTape() as tape:
            tape.watch(e)
            whole = cls(**kwargs)(labels, e)
        row = {"one_device": float(whole)}
        for mode, global_batch in (("global", True), ("per_replica", False)):
            with two.scope():
                loss = cls(global_batch=global_batch, **kwargs)
            value, grads = _replica_loss(two, loss, batch)
            row[mode] = float(value)
            if global_batch:
                row["max_grad_diff"] = float(np.abs(grads - tape.gradient(whole, e)).max())
        report[name] = row
    (Path(out) / "mining.json").write_text(json.dumps(report))


def _replica_loss(strategy, loss, batch):
    @tf.function
    def run(labels, embeddings):
        def step(y, e):
            with tf.GradientTape() as tape:
                tape.watch(e)
                value = loss(y, e)
            return value, tape.gradient(value, e)

        value, grads = strategy.run(step, args=(labels, embeddings))
        return strategy.reduce("sum", value, axis=None), strategy.gather(grads, axis=0)

    value, grads = run(*batch)
    return value, grads.numpy()


def main(argv):
    if argv[0] == "compare":
        compare(argv[1], argv[2], int(argv[3]))
    elif argv[0] == "mining":
        mining(argv[1])
    else:
        run_dir, name, loop, epochs = argv[1], argv[2], argv[3], int(argv[4])
        if name == "mirrored2":
            strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
        else:
            strategy = distribute.make_strategy(name)
        kill_at = int(argv[5]) if len(argv) > 5 else None
        train(run_dir, strategy, loop=loop, epochs=epochs, kill_at=kill_at)


if __name__ == "__main__":
    main(sys.argv[1:])
