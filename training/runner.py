"""The one training loop every recipe uses: `model.fit` with tf.data and the
callbacks a long run needs (checkpoints, resume after a kill, NaN stop,
history, timings, optional TensorBoard). Under a multi-worker strategy the
same callbacks drive `zoo.training.distribute.custom_fit` instead."""

from __future__ import annotations

import dataclasses
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Callable

from zoo import backend  # noqa: F401

import keras
import numpy as np
import tensorflow as tf

from zoo.training import distribute
from zoo.io import atomic_write_text

LOOPS = ("auto", "keras", "custom")
PROGRESS_SECONDS = 10.0  # off a terminal: a progress line at most this often within an epoch


class TrainingDivergedError(RuntimeError):
    """The loss became NaN or infinite; training was stopped."""


class ResumeMismatchError(ValueError):
    """The run folder holds an interrupted run of another configuration."""

# Settings that may change between an interrupted run and its resume.
RESUMABLE_CHANGES = ("epochs",)


@dataclasses.dataclass(frozen=True)
class EpochData:
    """A reproducible stream of epochs.

    `make(epoch)` returns the batched `tf.data.Dataset` of epoch `epoch`. Its
    order must depend only on (seed, epoch), never on how many epochs ran
    before in this process: that is what makes a resumed run reach the same
    weights as one that was never interrupted.

    Args:
        make: epoch index -> one epoch of batches.
        steps_per_epoch: the number of batches `make` yields per epoch.
        fingerprint: the sha256 of the training data, when known; `fit`
            records it in config.json and resumes only on the same data.
    """

    make: Callable[[int], tf.data.Dataset]
    steps_per_epoch: int
    fingerprint: str | None = None


@dataclasses.dataclass(frozen=True)
class RunResult:
    """What `fit` returns. `history` covers every epoch, resumed ones too."""

    run_dir: Path
    history: dict
    seconds: float
    epochs: int


def array_epochs(x, y, batch_size, seed=0, drop_remainder=False) -> EpochData:
    """`EpochData` over in-memory arrays, reshuffled per epoch by (seed, epoch).

    Args:
        x: inputs, an array or a dict of arrays with the same first dimension.
        y: targets with the same first dimension.
        batch_size: batch size.
        seed: base seed of the per-epoch permutations.
        drop_remainder: drop the last incomplete batch.
    """
    n = len(y)
    if n == 0:
        raise ValueError("Cannot train on an empty dataset. Received: len(y)=0")
    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive. Received: batch_size={batch_size}")
    # Variables, not constants: a constant would be copied into every epoch's
    # map function (about 0.35 GB per epoch for 55k images as input and target).
    tensors = tf.nest.map_structure(lambda a: tf.Variable(a, trainable=False), (x, y))

    def make(epoch):
        order = np.random.default_rng([seed, epoch]).permutation(n)
        return (
            tf.data.Dataset.from_tensor_slices(order)
            .batch(batch_size, drop_remainder=drop_remainder)
            .map(lambda idx: tf.nest.map_structure(lambda t: tf.gather(t, idx), tensors))
            .prefetch(tf.data.AUTOTUNE)
        )

    steps = n // batch_size if drop_remainder else -(-n // batch_size)
    return EpochData(make, steps, data_fingerprint((x, y)))


def data_fingerprint(arrays) -> str:
    """sha256 over the dtype, shape and bytes of every array in a nest (about
    40 ms for Fashion-MNIST): the dataset identity a resume must match."""
    import hashlib

    digest = hashlib.sha256()
    for a in tf.nest.flatten(arrays):
        a = np.ascontiguousarray(a)
        digest.update(f"{a.dtype.str}{a.shape}".encode())
        digest.update(memoryview(a).cast("B"))
    return digest.hexdigest()


def fit(model, train, *, epochs, run_dir, validation=None, seed=0, config=None,
        callbacks=(), tensorboard=False, verbose="auto", loop="auto") -> RunResult:
    """Train a compiled `model` and keep everything in `run_dir`.

    A run killed part-way resumes from its last finished epoch when `fit` is
    called again with the same `run_dir` (Keras `BackupAndRestore`).

    Under a `tf.distribute` strategy, build and compile `model` in its scope.
    With several workers, only the chief writes `run_dir`; the others write
    `run_dir/workers/TYPE-INDEX` (`distribute.worker_dir`).

    Args:
        model: a compiled `keras.Model`.
        train: an `EpochData` (exact resume) or a `tf.data.Dataset`.
        epochs: total number of epochs.
        run_dir: folder for config.json, history.csv, run.json, checkpoints/,
            backup/ and tensorboard/.
        validation: an optional `tf.data.Dataset` evaluated after each epoch.
        seed: seeds Python, NumPy and TensorFlow; ops are made deterministic.
        config: a JSON-able dict saved as config.json (the recipe's settings).
        callbacks: extra Keras callbacks.
        tensorboard: also write TensorBoard logs.
        verbose: Keras verbosity; "auto" shows a progress bar on a terminal
            and, otherwise, one line per epoch plus `ProgressLines` lines
            within an epoch: after the first batch, then every
            `PROGRESS_SECONDS`.
        loop: "keras" (`model.fit`), "custom" (`distribute.custom_fit`: the
            loss of any batch split over replicas is the global-batch mean)
            or "auto": "custom" under MultiWorkerMirroredStrategy, where
            Keras 3's `fit` fails, "keras" otherwise.

    Raises:
        TrainingDivergedError: the loss became NaN or infinite.
    """
    if epochs <= 0:
        raise ValueError(f"epochs must be positive. Received: epochs={epochs}")
    if loop not in LOOPS:
        raise ValueError(f"loop must be one of {LOOPS}. Received: loop={loop!r}")
    strategy = model.distribute_strategy
    if loop == "auto":
        loop = "custom" if distribute.is_multi_worker(strategy) else "keras"
    run_dir = distribute.worker_dir(run_dir, strategy)
    backup_dir = run_dir / "backup"
    (run_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()

    start = _resume_epoch(backup_dir)
    data = {"data_sha256": train.fingerprint} if getattr(train, "fingerprint", None) else {}
    settings = json.loads(json.dumps({"seed": seed, "epochs": epochs, **data, **(config or {})},
                                     default=str))
    if start:  # resume only the very same run; checked before anything is written
        _check_same_config(run_dir, settings, start)
    _truncate_history(run_dir / "history.csv", start)
    atomic_write_text(run_dir / "config.json", json.dumps(settings, indent=2))

    nan_guard = NanGuard()
    timer = EpochTimer(run_dir / "timings.json", start)
    monitor = "val_loss" if validation is not None else "loss"
    # The extra callbacks run before the checkpoints and the history log, so
    # a metric they add to the epoch logs is recorded (and can be monitored).
    # The backup runs last at each epoch end: when it says "N epochs done", history.csv,
    # timings.json and the checkpoints already hold epoch N (a kill in between is
    # undone by `_truncate_history` and `EpochTimer`, which keep the backup's epochs).
    all_callbacks = [
        *callbacks,
        keras.callbacks.ModelCheckpoint(str(run_dir / "checkpoints" / "best.keras"),
                                        monitor=monitor, save_best_only=True,
                                        initial_value_threshold=_best_so_far(run_dir, monitor)),
        keras.callbacks.ModelCheckpoint(str(run_dir / "checkpoints" / "last.keras")),
        keras.callbacks.CSVLogger(str(run_dir / "history.csv"), append=True),
        nan_guard,
        timer,
    ]
    if tensorboard:
        all_callbacks.append(keras.callbacks.TensorBoard(str(run_dir / "tensorboard")))
    all_callbacks.append(keras.callbacks.BackupAndRestore(str(backup_dir)))
    if verbose == "auto":
        verbose = 1 if sys.stderr.isatty() else 2
    if verbose == 2:  # Keras prints only at the end of each epoch: say what happens in between
        all_callbacks.append(ProgressLines(PROGRESS_SECONDS))

    with distribute.synchronized_batch_norm(model):
        if loop == "custom":
            make, steps = ((train.make, train.steps_per_epoch) if isinstance(train, EpochData)
                           else (lambda epoch: train, None))
            distribute.custom_fit(model, make, epochs=epochs, initial_epoch=start, steps=steps,
                                  validation=validation, callbacks=all_callbacks,
                                  verbose=verbose)
        else:
            stream, steps = _stream(train, start, epochs)
            model.fit(stream, epochs=epochs, steps_per_epoch=steps, validation_data=validation,
                      callbacks=all_callbacks, verbose=verbose, shuffle=False)
    if nan_guard.where is not None:
        raise TrainingDivergedError(
            f"Training stopped: the loss became {nan_guard.value} at {nan_guard.where}. "
            "Check the inputs for NaN, lower the learning rate, or clip gradients. "
            f"Run folder: {run_dir}"
        )

    run = {
        "epochs": epochs,
        "resumed_from_epoch": start,
        "seconds": round(sum(timer.seconds), 3),
        "epoch_seconds": timer.seconds,
        "completed": True,
    }
    atomic_write_text(run_dir / "run.json", json.dumps(run, indent=2))
    return RunResult(run_dir, read_history(run_dir), run["seconds"], epochs)


def read_history(run_dir) -> dict:
    """history.csv of a run as {metric: [value per epoch]}."""
    path = Path(run_dir) / "history.csv"
    lines = path.read_text().strip().splitlines() if path.exists() else []
    if not lines:
        return {}
    keys = lines[0].split(",")
    rows = [[float("nan") if v == "NA" else float(v) for v in line.split(",")]
            for line in lines[1:]]
    columns = {k: [row[i] for row in rows] for i, k in enumerate(keys)}
    return {k: v for k, v in columns.items() if not all(np.isnan(v))}


class NanGuard(keras.callbacks.TerminateOnNaN):
    """`TerminateOnNaN` that remembers where the loss went bad."""

    def __init__(self):
        super().__init__()
        self.where = None
        self.value = None
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not np.isfinite(float(loss)) and self.where is None:
            self.where = f"epoch {self._epoch + 1}, batch {batch + 1}"
            self.value = float(loss)
        super().on_batch_end(batch, logs)


class ProgressLines(keras.callbacks.Callback):
    """Progress within an epoch as plain lines, for logs and pipes (no terminal).

    Prints `  STEP/STEPS - Ns - ETA Ns - loss: L` (the running epoch means of
    the logged metrics) after the run's first batch, which includes the
    graph's tracing, and then when `seconds` have passed since the last line
    or epoch line: an epoch shorter than that gets no extra line.

    Args:
        seconds: the least wall-clock time between two lines of one epoch.
    """

    def __init__(self, seconds=PROGRESS_SECONDS):
        super().__init__()
        self.seconds = float(seconds)
        self._t0 = self._last = 0.0

    def on_train_begin(self, logs=None):
        self._last = None

    def on_epoch_begin(self, epoch, logs=None):
        self._t0 = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self._last = time.perf_counter()  # Keras prints the epoch's line now

    def on_train_batch_end(self, batch, logs=None):
        now = time.perf_counter()
        if self._last is not None and now - self._last < self.seconds:
            return
        self._last = now
        steps = self.params.get("steps") if self.params else None
        elapsed = now - self._t0
        parts = [f"{batch + 1}/{steps or '?'}", f"{elapsed:.0f}s"]
        if steps and batch + 1 < steps:
            parts.append(f"ETA {elapsed / (batch + 1) * (steps - batch - 1):.0f}s")
        for key, value in sorted((logs or {}).items(), key=lambda item: item[0] != "loss"):
            try:
                parts.append(f"{key}: {float(value):.4f}")
            except (TypeError, ValueError):
                continue
        print("  " + " - ".join(parts), flush=True)


class EpochTimer(keras.callbacks.Callback):
    """Wall-clock seconds of each epoch, kept in a file across resumes.

    Args:
        path: the JSON file holding the list of epoch seconds.
        start: the number of epochs already finished (their times are kept).
    """

    def __init__(self, path, start=0):
        super().__init__()
        self.path = Path(path)
        old = json.loads(self.path.read_text()) if start and self.path.exists() else []
        self.seconds = old[:start]
        self._t0 = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._t0 = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(round(time.perf_counter() - self._t0, 3))
        atomic_write_text(self.path, json.dumps(self.seconds))


def _stream(train, start, epochs):
    # One dataset of epochs start..epochs-1 for `model.fit`, and its steps per epoch.
    if not isinstance(train, EpochData):
        return train, None
    stream = train.make(start)
    for epoch in range(start + 1, epochs):
        stream = stream.concatenate(train.make(epoch))
    return stream, train.steps_per_epoch


def discard_interrupted(run_dir) -> list:
    """Remove the resume state (backup/) of every interrupted run under
    `run_dir`, and its history and timings, so the next `fit` starts afresh
    (`zoo train --restart`). Returns the removed backup folders."""
    removed = []
    for meta in sorted(Path(run_dir).rglob("backup/training_metadata.json")):
        folder = meta.parent.parent
        shutil.rmtree(meta.parent)
        for name in ("history.csv", "timings.json", "run.json"):
            (folder / name).unlink(missing_ok=True)
        removed.append(meta.parent)
    return removed


def _check_same_config(run_dir: Path, settings: dict, start: int):
    path = run_dir / "config.json"
    try:
        saved = json.loads(path.read_text())
    except (OSError, ValueError):
        saved = None
    if not isinstance(saved, dict):
        differ = ["config.json (missing or unreadable)"]
    else:
        keys = sorted((set(saved) | set(settings)) - set(RESUMABLE_CHANGES))
        differ = [f"{k} {saved.get(k, '(unset)')!r} -> {settings.get(k, '(unset)')!r}"
                  for k in keys if saved.get(k, "(unset)") != settings.get(k, "(unset)")]
    if differ:
        raise ResumeMismatchError(
            f"{run_dir} holds an interrupted run ({start} epoch(s) done) with other "
            f"settings: {'; '.join(differ)}. Rerun with the same settings to resume it, "
            "choose another --run-dir, or pass --restart to discard it.")


def _resume_epoch(backup_dir: Path) -> int:
    # BackupAndRestore keeps the number of finished epochs here.
    meta = backup_dir / "training_metadata.json"
    if not meta.exists():
        return 0
    return int(json.loads(meta.read_text())["epoch"])


def _best_so_far(run_dir: Path, monitor: str):
    # A resumed run's best checkpoint must beat the epochs before the resume too.
    values = read_history(run_dir).get(monitor, [])
    finite = [v for v in values if np.isfinite(v)]
    return min(finite) if finite else None


def best_checkpoint(run: RunResult) -> Path:
    """The run's `checkpoints/best.keras`: the epoch with the lowest validation
    loss (training loss without validation), over resumes too."""
    return Path(run.run_dir) / "checkpoints" / "best.keras"


def _truncate_history(path: Path, epochs: int):
    # Keep only the rows of epochs the backup holds (header + one per epoch).
    if not path.exists():
        return
    if epochs == 0:
        path.unlink()
        return
    lines = path.read_text().splitlines(keepends=True)
    atomic_write_text(path, "".join(lines[: epochs + 1]))
