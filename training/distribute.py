"""Training past one device with `tf.distribute`.

Strategies (`zoo train NAME --strategy ...`):
    default: no strategy, today's single-device training.
    mirrored: `tf.distribute.MirroredStrategy` over this machine's GPUs (or
        its CPU); the runner trains with Keras `fit`.
    multiworker: `tf.distribute.MultiWorkerMirroredStrategy` over the
        machines listed in the `TF_CONFIG` environment variable. Keras 3's
        `fit` fails under it ("Attempt to convert a value (PerReplica...)",
        keras-team/keras#20585), so the runner trains with `custom_fit`: the
        same model, optimizer and compiled loss, one `strategy.run` per batch.

Build and compile the model inside `strategy.scope()`; `zoo train` runs the
whole recipe there. Training then matches one device on the global batch:
each replica's loss is its share of the global-batch loss
(`global_batch_weight`), the mining losses gather the global batch first
(`zoo.losses.replicas`), and BatchNorm uses global-batch statistics
(`synchronized_batch_norm`).

With several workers, the chief (task "chief", or worker 0 when there is
none) keeps the run folder; every other worker writes its copy to
RUN_DIR/workers/TYPE-INDEX (`worker_dir`), which is also where it resumes
from.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

from zoo import backend  # noqa: F401

import keras
import tensorflow as tf

from zoo.models.graphs import all_layers

STRATEGIES = ("default", "mirrored", "multiworker")
TF_CONFIG_EXAMPLE = ('{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
                     '"task": {"type": "worker", "index": 0}}')


class StrategyConfigError(ValueError):
    """A strategy that cannot start as configured (e.g. a bad TF_CONFIG)."""


def check_tf_config(value) -> dict:
    """Parse and check a `TF_CONFIG` value for `--strategy multiworker`.

    Args:
        value: the variable's text, or None when it is unset.

    Returns:
        The parsed dict.

    Raises:
        StrategyConfigError: unset, not JSON, or without a cluster and a task
            of that cluster; the message shows an example.
    """
    problem, config = None, None
    if not value:
        problem = "Received: TF_CONFIG unset"
    else:
        try:
            config = json.loads(value)
        except json.JSONDecodeError:
            problem = f"It is not valid JSON. Received: TF_CONFIG={value!r}"
    if config is not None and not _names_its_task(config):
        problem = ("It needs a 'cluster' and a 'task' whose type is in the cluster and "
                   f"whose index is in that type's list. Received: TF_CONFIG={value!r}")
    if problem:
        raise StrategyConfigError(
            "--strategy multiworker needs the TF_CONFIG environment variable: the cluster "
            f"and this process's task as JSON, e.g. TF_CONFIG='{TF_CONFIG_EXAMPLE}' on the "
            f"first worker and \"index\": 1 on the second. {problem}")
    return config


def _names_its_task(config) -> bool:
    try:
        members, index = config["cluster"][config["task"]["type"]], config["task"]["index"]
    except (KeyError, TypeError, IndexError):
        return False
    return isinstance(members, list) and isinstance(index, int) and 0 <= index < len(members)


def make_strategy(name):
    """The `tf.distribute` strategy called `name` (one of `STRATEGIES`).

    Create it first thing: MultiWorkerMirroredStrategy must exist before
    TensorFlow runs any op.

    Args:
        name: "default", "mirrored" or "multiworker" (reads TF_CONFIG).

    Raises:
        StrategyConfigError: an unknown name, or a bad TF_CONFIG.
    """
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multiworker":
        check_tf_config(os.environ.get("TF_CONFIG"))
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise StrategyConfigError(f"strategy must be one of {STRATEGIES}. Received: {name!r}")


def is_multi_worker(strategy=None) -> bool:
    """Whether `strategy` (default: the current one) is a
    MultiWorkerMirroredStrategy, under which Keras 3's `fit` fails."""
    strategy = strategy or tf.distribute.get_strategy()
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)


def worker_dir(run_dir, strategy=None) -> Path:
    """Where this process writes: `run_dir` for the chief (or a one-worker
    run), RUN_DIR/workers/TYPE-INDEX for any other worker.

    Idempotent: a path that is already this worker's folder is returned as is.

    Args:
        run_dir: the run folder.
        strategy: default: the current strategy.
    """
    run_dir, strategy = Path(run_dir), strategy or tf.distribute.get_strategy()
    if strategy.extended.should_checkpoint:  # True but for a non-chief worker
        return run_dir
    resolver = strategy.cluster_resolver
    name = f"{resolver.task_type}-{resolver.task_id}"
    if run_dir.name == name and run_dir.parent.name == "workers":
        return run_dir
    return run_dir / "workers" / name


@contextlib.contextmanager
def synchronized_batch_norm(model):
    """While inside, `model`'s BatchNormalization layers normalise with the
    statistics of the global batch (`synchronized=True`), not of each
    replica's slice, when its strategy has several replicas. Their config is
    restored on exit, so the saved model is the same as a one-device run's.

    Args:
        model: a `keras.Model`.
    """
    layers = []
    if model.distribute_strategy.num_replicas_in_sync > 1:
        layers = [layer for layer in all_layers(model)
                  if isinstance(layer, keras.layers.BatchNormalization)
                  and not layer.synchronized]
    for layer in layers:
        layer.synchronized = True
    try:
        yield layers
    finally:
        for layer in layers:
            layer.synchronized = False


def global_batch_weight(x):
    """R * n / N: turns this replica's mean loss (divided by R, as Keras
    does) into sum(losses) / N, its share of the global-batch mean.

    n is this replica's batch size, N the global one (the sum over the R
    replicas), so the shares add up to the global mean even when the last
    batch splits unevenly, as with `tf.nn.compute_average_loss`. A mining
    loss's share L / R (`zoo.losses.replicas`) becomes L * n / N, and the
    shares still add up to L. 1.0 outside a replica context.

    Args:
        x: this replica's inputs (a tensor or a structure of tensors).
    """
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return 1.0
    n = _batch_size(x)
    return context.num_replicas_in_sync * n / context.all_reduce("sum", n)


def _batch_size(x):
    return tf.cast(tf.shape(tf.nest.flatten(x)[0])[0], "float32")


def custom_fit(model, make_epoch, *, epochs, initial_epoch, steps, validation, callbacks,
               verbose):
    """Keras `fit`'s epoch loop as a custom train step under any strategy.

    Drives the same callbacks as `fit` (backup, checkpoints, history, NaN
    stop, progress line), with the model's compiled loss, metrics and
    optimizer. Every replica's loss is weighted by `global_batch_weight`.

    Args:
        model: a compiled `keras.Model` built in its strategy's scope.
        make_epoch: epoch index -> the `tf.data.Dataset` of global batches.
        epochs: total number of epochs.
        initial_epoch: epochs already done (a resumed run).
        steps: batches per epoch, or None when unknown.
        validation: an optional `tf.data.Dataset` evaluated after each epoch.
        callbacks: Keras callbacks.
        verbose: 0, 1 (progress bar) or 2 (one line per epoch).
    """
    strategy = model.distribute_strategy
    with strategy.scope():
        # What `fit` does first: create the optimizer and metric variables
        # (outside `strategy.run`). Keras's own version of this call is the
        # step that fails under MultiWorkerMirroredStrategy.
        model._symbolic_build(data_batch=make_epoch(initial_epoch).element_spec)
    _check_same_everywhere(strategy, initial_epoch, "finished epochs (backup/)")
    train_step, test_step = _step(model, training=True), _step(model, training=False)
    callbacks = keras.callbacks.CallbackList(
        list(callbacks), add_history=True, add_progbar=verbose != 0, verbose=verbose,
        epochs=epochs, steps=steps, model=model)
    model.stop_training = False
    callbacks.on_train_begin()
    logs = {}
    for epoch in range(initial_epoch, epochs):
        callbacks.on_epoch_begin(epoch)
        logs = _run(model, train_step, make_epoch(epoch), callbacks)
        if validation is not None and not model.stop_training:
            val_logs = _run(model, test_step, validation, None)
            logs.update({f"val_{k}": v for k, v in val_logs.items()})
        callbacks.on_epoch_end(epoch, logs)
        if model.stop_training:
            break
    callbacks.on_train_end(logs)


def _step(model, training):
    strategy = model.distribute_strategy

    def replica_step(data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        with tf.GradientTape() as tape:
            y_pred = model(x, training=training)
            loss = model.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight,
                                      training=training) * global_batch_weight(x)
            scaled = model.optimizer.scale_loss(loss) if training else loss
        if training:
            variables = model.trainable_variables
            model.optimizer.apply(tape.gradient(scaled, variables), variables)
        model.compute_metrics(x, y, y_pred, sample_weight=sample_weight)
        return loss, _batch_size(x)

    @tf.function
    def step(batch):
        loss, n = strategy.run(replica_step, args=(batch,))
        return strategy.reduce("sum", loss, axis=None), strategy.reduce("sum", n, axis=None)

    return step


def _run(model, step, dataset, callbacks):
    """One pass over `dataset`: {"loss": mean over examples, compiled metrics...}."""
    model.reset_metrics()
    total = count = 0.0
    for i, batch in enumerate(model.distribute_strategy.experimental_distribute_dataset(dataset)):
        if callbacks is not None:
            callbacks.on_train_batch_begin(i)
        loss, n = step(batch)
        total, count = total + float(loss) * float(n), count + float(n)
        if callbacks is not None:
            callbacks.on_train_batch_end(i, {"loss": total / count})
            if model.stop_training:
                break
    results = {k: v for k, v in model.get_metrics_result().items() if k != "loss"}
    return {"loss": total / max(count, 1.0), **results}


def _check_same_everywhere(strategy, value, what):
    """Refuse to start when the replicas disagree on `value` (an int)."""
    if strategy.num_replicas_in_sync == 1:
        return
    v = tf.constant(float(value))

    @tf.function
    def sums():
        return strategy.reduce("sum", strategy.run(lambda: tf.stack([v, v * v])), axis=None)

    total, squares = sums().numpy()
    # All equal exactly when R * sum(v^2) == sum(v)^2 (Cauchy-Schwarz).
    if strategy.num_replicas_in_sync * squares != total * total:
        raise RuntimeError(
            f"The workers disagree on the {what}: this one has {value}, the mean is "
            f"{total / strategy.num_replicas_in_sync:g}. A worker was stopped while saving; "
            "delete the run folder's backup/ (and workers/*/backup/) to restart from scratch."
        )
