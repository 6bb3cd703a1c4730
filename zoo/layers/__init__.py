"""Custom layers of the zoo, one small module per family.

Every layer is registered under package "zoo", so models using them save to
`.keras` and reload with `safe_mode=True`.
"""

from zoo.layers.heads import (
    L2Normalize,
    NearestNeighbourHead,
    PairDistance,
    PairFeatures,
    ScaleGradient,
)
from zoo.layers.pooling import MaxPoolingWithArgmax2D, MaxUnpooling2D
from zoo.layers.sampling import Sampling

__all__ = [
    "L2Normalize",
    "MaxPoolingWithArgmax2D",
    "MaxUnpooling2D",
    "NearestNeighbourHead",
    "PairDistance",
    "PairFeatures",
    "Sampling",
    "ScaleGradient",
]
