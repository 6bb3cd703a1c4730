"""Dataset loaders: NumPy arrays in, nothing else (TensorFlow only in `to_dataset`).

Every loader returns `(images, labels)` with uint8 images (N, H, W), ink or
face bright on a dark background, and int64 labels. Vendored files are
sha256-checked before they are read.

    load_fashion_mnist(split)       (60000|10000, 28, 28), 10 classes
    load_orl_faces()                (400, 112, 92), 40 subjects
    load_omniglot(subset)           (19280|13180, 105, 105), 964|659 characters
    load_one_shot_runs()            Lake's 20 one-shot 20-way runs
    load_digits()                   (1797, 8, 8), 10 classes
    load_folder(DIR, image_size)    your own DIR/CLASS/IMAGE files (see split_folder)
"""

from zoo.training.datasets._files import DataCorruptError, DataMissingError
from zoo.training.datasets.digits import load_digits
from zoo.training.datasets.fashion_mnist import load_fashion_mnist
from zoo.training.datasets.folder import FolderData, FolderDataError, load_folder, split_folder
from zoo.training.datasets.images import resize, to_float
from zoo.training.datasets.omniglot import load_omniglot, load_one_shot_runs, omniglot_alphabets
from zoo.training.datasets.orl_faces import load_orl_faces, orl_five_five_split
from zoo.training.datasets.pipeline import to_dataset
from zoo.training.datasets.samples import sample_images
from zoo.training.datasets.sketches import edge_sketch
from zoo.training.datasets.splits import stratified_split, validation_split

__all__ = [
    "DataCorruptError",
    "DataMissingError",
    "edge_sketch",
    "FolderData",
    "FolderDataError",
    "load_digits",
    "load_fashion_mnist",
    "load_folder",
    "load_omniglot",
    "load_one_shot_runs",
    "load_orl_faces",
    "omniglot_alphabets",
    "orl_five_five_split",
    "resize",
    "sample_images",
    "split_folder",
    "stratified_split",
    "to_dataset",
    "to_float",
    "validation_split",
]
