"""verify_tied: tied towers + MLP head, trained end to end with BCE (approach 1b)."""

from training.recipes.metric import PairRecipe

_recipe = PairRecipe("verify_tied", direction="greater")  # a match probability
train, evaluate = _recipe.train, _recipe.evaluate
