"""The zoo's entries, one module per family. Importing this registers them."""

from zoo.entries import classifiers, metric_learning  # noqa: F401
from zoo.entries import autoencoders  # noqa: F401
from zoo.entries import faces  # noqa: F401
