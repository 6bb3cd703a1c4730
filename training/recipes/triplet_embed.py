"""triplet_embed: an image-retrieval embedding trained on P x K Fashion-MNIST batches."""

from training.recipes.metric import evaluate_embedding_model, fashion_splits, train_embedder


def train(run_dir, epochs=None, seed=0, quick=False):
    """P=10 classes x K=16 images per batch; see `train_embedder`."""
    return train_embedder("triplet_embed", run_dir, epochs=epochs or 4, steps=350, p=10, k=16,
                          seed=seed, quick=quick)


def evaluate(model):
    """Retrieval and cosine-verification metrics on the test split."""
    return evaluate_embedding_model(model, fashion_splits())[0]
