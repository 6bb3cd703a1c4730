"""The package list, computed: `zoo`, and the repository folders `training/` and
`export/` shipped as `zoo.training` and `zoo.export` (everything else is in
setup.cfg). In a source checkout `zoo/_layout.py` resolves the same names."""

from setuptools import find_packages, setup

NESTED = ("training", "export")  # repository folder -> zoo.FOLDER

packages = find_packages(include=["zoo", "zoo.*"])
for folder in NESTED:
    packages += [f"zoo.{name}" for name in find_packages(include=[folder, f"{folder}.*"])]

setup(packages=packages, package_dir={f"zoo.{folder}": folder for folder in NESTED})
