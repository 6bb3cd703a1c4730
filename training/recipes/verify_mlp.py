"""verify_mlp: frozen fmnist_cnn features + an MLP match head (approach 1a).

Only the MLP head trains; the backbone keeps the weights fmnist_cnn learned.
"""

import zoo
from zoo.training.recipes.metric import PairRecipe


def load_pretrained_backbone(model):
    """Copy the published fmnist_cnn backbone into the frozen feature extractor."""
    source = zoo.load("fmnist_cnn").get_layer("backbone")
    model.get_layer("backbone").set_weights(source.get_weights())


_recipe = PairRecipe("verify_mlp", direction="greater", epochs=3,  # a match probability
                     prepare=load_pretrained_backbone)
train, evaluate, dataset_card = _recipe.train, _recipe.evaluate, _recipe.dataset_card
EPOCHS = _recipe.epochs
