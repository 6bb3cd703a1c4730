"""triplet_embed: an image-retrieval embedding trained on P x K Fashion-MNIST batches."""

from zoo.training.recipes.metric import EmbedderRecipe

_recipe = EmbedderRecipe("triplet_embed")
train, evaluate, dataset_card = _recipe.train, _recipe.evaluate, _recipe.dataset_card
EPOCHS = _recipe.epochs
