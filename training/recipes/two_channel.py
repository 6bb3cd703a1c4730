"""two_channel: both images stacked as channels of one CNN, BCE (approach 2)."""

from zoo.training.recipes.metric import PairRecipe

_recipe = PairRecipe("two_channel", direction="greater")  # a match probability
train, evaluate, dataset_card = _recipe.train, _recipe.evaluate, _recipe.dataset_card
EPOCHS = _recipe.epochs
