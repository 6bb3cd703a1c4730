"""The package list, computed: `zoo`, and the repository folders `training/` and
`export/` shipped as `zoo.training` and `zoo.export` (everything else is in
setup.cfg). In a source checkout `zoo/_layout.py` resolves the same names."""

import shutil

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

NESTED = ("training", "export")  # repository folder -> zoo.FOLDER

packages = find_packages(include=["zoo", "zoo.*"])
for folder in NESTED:
    packages += [f"zoo.{name}" for name in find_packages(include=[folder, f"{folder}.*"])]


class FreshBuildPy(build_py):
    """Start from an empty build/lib: the wheel packs all of it, so files left
    by an older layout (a top-level training/) would ship again."""

    def run(self):
        shutil.rmtree(self.build_lib, ignore_errors=True)
        super().run()


setup(packages=packages, package_dir={f"zoo.{folder}": folder for folder in NESTED},
      cmdclass={"build_py": FreshBuildPy})
