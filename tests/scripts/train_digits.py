"""Train a tiny classifier on scikit-learn digits; used by the resume test.

Usage: python train_digits.py RUN_DIR EPOCHS [KILL_AT_EPOCH]
With KILL_AT_EPOCH, the process SIGKILLs itself when that epoch begins, i.e.
right after the previous epoch's backup was written, as a preempted job would.
"""

import os
import signal
import sys

import numpy as np
from sklearn.datasets import load_digits

import zoo
import keras
from zoo.training.runner import array_epochs, fit


class KillAt(keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            os.kill(os.getpid(), signal.SIGKILL)


def main(run_dir, epochs, kill_at=None):
    digits = load_digits()
    x = (digits.images[:512, :, :, None] / 16.0).astype("float32")
    y = digits.target[:512].astype("int64")
    keras.utils.set_random_seed(0)
    model = zoo.create("fmnist_cnn", input_shape=(8, 8, 1), widths=(4, 8))
    callbacks = [KillAt(kill_at)] if kill_at is not None else []
    fit(model, array_epochs(x, y, batch_size=64, seed=1), epochs=epochs,
        run_dir=run_dir, seed=0, callbacks=callbacks, verbose=0)
    np.save(os.path.join(run_dir, "weights.npy"),
            np.concatenate([w.ravel() for w in model.get_weights()]))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) > 3 else None)
