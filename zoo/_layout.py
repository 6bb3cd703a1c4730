"""`zoo.training` and `zoo.export` in a source checkout.

The wheel and an editable install ship the repository folders `training/` and
`export/` as the subpackages `zoo.training` and `zoo.export` (setup.py maps
them), so the distribution installs one top-level package, `zoo`. In a
checkout the two folders stay beside `zoo/`. This finder, installed by
`import zoo` only when `zoo/` is such a checkout's folder, resolves the two
names to the folders next to it: the same files the editable install maps,
also when the checkout is only on `sys.path` (a second clone or worktree
never mixes in the installed checkout's files). In a wheel `zoo/training/`
exists and nothing is installed.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

NESTED = ("training", "export")


class CheckoutFinder:
    """A meta path finder for `zoo.FOLDER` -> the checkout's `FOLDER/`."""

    def __init__(self, folders: dict[str, Path]):
        self.folders = folders

    def find_spec(self, fullname, path=None, target=None):
        folder = self.folders.get(fullname)
        if folder is None:
            return None  # submodules follow the package's __path__
        return importlib.util.spec_from_file_location(
            fullname, folder / "__init__.py", submodule_search_locations=[str(folder)])

    def invalidate_caches(self):
        pass


def install(zoo_dir: Path | None = None) -> None:
    """Put a `CheckoutFinder` first on `sys.meta_path` when `zoo_dir` (default:
    the folder of this `zoo`) sits in a checkout."""
    zoo_dir = zoo_dir or Path(__file__).resolve().parent
    folders = {f"zoo.{name}": zoo_dir.parent / name for name in NESTED
               if not (zoo_dir / name).is_dir() and (zoo_dir.parent / name / "__init__.py").is_file()}
    if folders and not any(isinstance(f, CheckoutFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, CheckoutFinder(folders))
