"""verify_mlp: frozen fmnist_cnn features + an MLP match head (approach 1a)."""

import zoo
from training.recipes.metric import evaluate_verifier, fashion_splits, train_pair_model

DIRECTION = "greater"  # a match probability


def load_pretrained_backbone(model):
    """Copy the published fmnist_cnn backbone into the frozen feature extractor."""
    source = zoo.load("fmnist_cnn").get_layer("backbone")
    model.get_layer("backbone").set_weights(source.get_weights())


def train(run_dir, epochs=None, seed=0, quick=False):
    """Only the MLP head trains; the backbone stays as fmnist_cnn trained it."""
    return train_pair_model("verify_mlp", run_dir, direction=DIRECTION, epochs=epochs or 3,
                            pairs_per_epoch=20_000, seed=seed, quick=quick,
                            prepare=None if quick else load_pretrained_backbone)


def evaluate(model):
    """Verification metrics on the test split."""
    return evaluate_verifier(model, DIRECTION, fashion_splits())[0]
