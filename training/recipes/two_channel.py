"""two_channel: both images stacked as channels of one CNN, BCE."""

from training.recipes.metric import evaluate_verifier, fashion_splits, train_pair_model

DIRECTION = "greater"  # a match probability


def train(run_dir, epochs=None, seed=0, quick=False):
    """Fresh balanced Fashion-MNIST pairs each epoch; see `train_pair_model`."""
    return train_pair_model("two_channel", run_dir, direction=DIRECTION,
                            epochs=epochs or 4, pairs_per_epoch=20_000, seed=seed, quick=quick)


def evaluate(model):
    """Verification metrics on the test split."""
    return evaluate_verifier(model, DIRECTION, fashion_splits())[0]
