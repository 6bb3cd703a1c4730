"""siamese_contrastive: tied towers, Euclidean distance, contrastive loss (approach 1c)."""

from zoo.training.recipes.metric import PairRecipe

_recipe = PairRecipe("siamese_contrastive", direction="less")  # a distance
train, evaluate, dataset_card = _recipe.train, _recipe.evaluate, _recipe.dataset_card
EPOCHS = _recipe.epochs
