"""Each published card describes what its recipe does today: the split and the
epochs it records are the ones `zoo train NAME` would use, so the command in
the card reproduces the card."""

import json
from pathlib import Path

import pytest

import zoo

SAVED = Path(__file__).resolve().parents[1] / "saved_models"
PUBLISHED = [name for name in zoo.list_models() if (SAVED / name / "card.json").exists()]


def card(name):
    return json.loads((SAVED / name / "card.json").read_text())


@pytest.mark.parametrize("name", PUBLISHED)
def test_card_records_the_recipe_split_epochs_and_command(name):
    recipe = zoo.info(name).resolve_recipe()
    training = card(name)["training"]
    assert training["command"] == f"zoo train {name}"
    assert card(name)["dataset"] == recipe.dataset_card(training["seed"])
    if hasattr(recipe, "PATIENCE"):  # early stopping: at most the recipe's epochs
        assert 1 <= training["epochs"] <= recipe.EPOCHS
    else:
        assert training["epochs"] == recipe.EPOCHS


def test_a_changed_split_is_caught(monkeypatch):
    """The check compares values, not only keys: an edited split fails it."""
    from zoo.training.recipes import common

    recipe = zoo.info("ae_linear").resolve_recipe()
    monkeypatch.setattr(common, "VALIDATION_PER_CLASS", 400)
    assert card("ae_linear")["dataset"] != recipe.dataset_card(0)
