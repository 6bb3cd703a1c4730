"""The face recipes: people splits, unseen-people evaluation, and quick runs."""

import json

import numpy as np
import pytest

from zoo.training.recipes import (
    face_embed,
    face_id_finetune,
    face_id_head,
    face_id_knn,
    face_resnet,
    face_verify,
    faces,
)
from zoo.training.recipes.common import load_run_model
from zoo.models.graphs import graph_model


@pytest.fixture(autouse=True)
def _orl(orl_faces):  # every test here needs the vendored ORL file
    return orl_faces


def test_people_groups_are_disjoint_and_cover_orl():
    groups = (faces.FIT_PEOPLE, faces.CALIBRATION_PEOPLE, faces.UNSEEN_PEOPLE)
    everyone = np.concatenate(groups)
    assert sorted(everyone) == list(range(40)) and len(set(everyone)) == 40
    assert faces.UNSEEN_NAMES == [f"s{k}" for k in range(31, 41)]


def test_faces_are_halved_orl_images():
    x, y = faces.faces(faces.CALIBRATION_PEOPLE)
    assert x.shape == (50, 56, 46) and x.dtype == np.uint8
    assert set(y) == set(faces.CALIBRATION_PEOPLE)


def test_unseen_split_is_five_five_and_seeded():
    split = faces.unseen_split(0)
    (x, y), (xt, yt) = split["train"], split["test"]
    assert x.shape == xt.shape == (50, 56, 46)
    assert np.bincount(y).tolist() == np.bincount(yt).tolist() == [5] * 10
    assert np.array_equal(x, faces.unseen_split(0)["train"][0])
    assert not np.array_equal(x, faces.unseen_split(1)["train"][0])


def test_all_pair_scores_by_hand():
    e = np.array([[1.0, 0.0], [0.0, 2.0], [3.0, 0.0]])
    scores, same = faces.all_pair_scores(e, np.array([0, 1, 0]), "cosine")
    np.testing.assert_allclose(scores, [0.0, 1.0, 0.0])  # pairs (0,1) (0,2) (1,2)
    assert same.tolist() == [0, 1, 0]
    distances, _ = faces.all_pair_scores(e, np.array([0, 1, 0]), "euclidean")
    np.testing.assert_allclose(distances, [np.sqrt(5), 2.0, np.sqrt(13)])


def _oracle(x):
    """An embedder that knows each face's person: one-hot of the label."""
    all_x, all_y = faces.faces()
    index = {a.tobytes(): label for a, label in zip(all_x, all_y)}
    return np.eye(40)[[index[a.tobytes()] for a in x]] + 1e-3


def test_a_perfect_embedder_scores_perfectly():
    metrics, threshold = faces.unseen_report(_oracle)
    assert metrics["verify_eer"] == 0.0 and metrics["verify_roc_auc"] == 1.0
    assert metrics["top1_enroll_1"] == metrics["top1_enroll_5"] == 1.0
    assert metrics["open_set_dir_at_far_1e-2"] == 1.0 and metrics["open_set_far"] == 0.0
    assert metrics["verify_pairs"] == "450 genuine + 4500 impostor"
    assert threshold["direction"] == "greater" and threshold["rule"] == "FAR = 0.01"


def test_a_random_embedder_is_near_chance():
    rng = np.random.default_rng(0)
    metrics, _ = faces.unseen_report(lambda x: rng.normal(size=(len(x), 16)))
    assert metrics["top1_enroll_1"] < 0.3 and 0.3 < metrics["verify_roc_auc"] < 0.7


def test_eigenfaces_baseline_beats_chance_on_unseen_people():
    metrics = faces.eigenfaces_report()
    assert metrics["top1_enroll_5"] > 0.9 and metrics["verify_eer"] < 0.3


@pytest.mark.parametrize("recipe", [face_embed, face_resnet, face_verify, face_id_knn,
                                    face_id_head, face_id_finetune])
def test_quick_recipes_run_end_to_end(recipe, tmp_path):
    result = recipe.train(tmp_path, quick=True)
    saved = json.loads((tmp_path / "result.json").read_text())
    assert (tmp_path / "model.keras").exists() and saved["metrics"] == result["metrics"]
    if recipe in (face_embed, face_resnet):
        assert set(result["metrics"]) == {"unseen_s31_s40", "eigenfaces_unseen_s31_s40"}
        assert result["threshold"]["rule"] == "FAR = 0.01"
    elif recipe is face_verify:
        assert_pair_score_is_the_embedding_distance(load_run_model(tmp_path))
    else:
        test = result["metrics"]["test"]
        assert result["classes"] == faces.UNSEEN_NAMES
        assert 0.0 <= test["top1"] <= 1.0 and test["n"] == 50
        assert result["threshold"]["rule"] == "FAR = 0.01"
        if recipe is not face_id_knn:  # open set: accepted and right <= right
            assert 0.0 <= test["dir_at_threshold"] <= test["top1"]


def assert_pair_score_is_the_embedding_distance(model):
    """face_verify is evaluated from embeddings; its verify graph must agree."""
    x, y = faces.faces(faces.UNSEEN_PEOPLE, size=None)
    chips = face_resnet.chips(x[::10])
    embeddings = graph_model(model, "embed").predict(chips, verbose=0)
    expected, _ = faces.all_pair_scores(embeddings, y[::10], "euclidean")
    i, j = np.triu_indices(len(chips), k=1)
    scores = model.predict({"image_a": chips[i], "image_b": chips[j]}, verbose=0)
    np.testing.assert_allclose(scores.reshape(-1), expected, atol=1e-5)
