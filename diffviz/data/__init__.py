"""Data sets: procedural `shapes` with captions, scikit-learn `digits`, and a user's own images.

`datasets.DATASETS` / `get_dataset(name)`: the data sets by the name a model folder records."""
from .datasets import DATASETS, get_dataset
from .digits import DigitsDataset, load_digits_tensor
from .folder import ImageFolderDataset, TorchvisionDataset
from .shapes import ATTRIBUTES, HELDOUT_PAIRS, ShapesDataset, generate_shapes

__all__ = ["DATASETS", "get_dataset", "ShapesDataset", "generate_shapes", "ATTRIBUTES", "HELDOUT_PAIRS", "DigitsDataset",
           "load_digits_tensor", "ImageFolderDataset", "TorchvisionDataset"]
