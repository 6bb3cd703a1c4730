"""siamese_cosine: tied towers, cosine-similarity head, contrastive loss on 1 - cos."""

from training.recipes.metric import PairRecipe

_recipe = PairRecipe("siamese_cosine", direction="greater")  # a similarity
train, evaluate = _recipe.train, _recipe.evaluate
