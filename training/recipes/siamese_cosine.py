"""siamese_cosine: tied towers, cosine-similarity head, contrastive loss on 1 - cos."""

from zoo.training.recipes.metric import PairRecipe

_recipe = PairRecipe("siamese_cosine", direction="greater")  # a similarity
train, evaluate, dataset_card = _recipe.train, _recipe.evaluate, _recipe.dataset_card
EPOCHS = _recipe.epochs
