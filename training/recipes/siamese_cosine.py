"""siamese_cosine: tied towers, cosine-similarity head, contrastive loss on 1 - cos."""

from training.recipes.metric import evaluate_verifier, fashion_splits, train_pair_model

DIRECTION = "greater"  # a similarity: a pair matches when it is large


def train(run_dir, epochs=None, seed=0, quick=False):
    """Fresh balanced Fashion-MNIST pairs each epoch; see `train_pair_model`."""
    return train_pair_model("siamese_cosine", run_dir, direction=DIRECTION,
                            epochs=epochs or 4, pairs_per_epoch=20_000, seed=seed, quick=quick)


def evaluate(model):
    """Verification (and tower retrieval) metrics on the test split."""
    return evaluate_verifier(model, DIRECTION, fashion_splits())[0]
