"""verify_tied: tied towers + MLP head, trained end to end with BCE (approach 1b)."""

from zoo.training.recipes.metric import PairRecipe

_recipe = PairRecipe("verify_tied", direction="greater")  # a match probability
train, evaluate, dataset_card = _recipe.train, _recipe.evaluate, _recipe.dataset_card
EPOCHS = _recipe.epochs
