"""Data sets: procedural `shapes` with captions, scikit-learn `digits`, and a user's own images."""
from .digits import DigitsDataset, load_digits_tensor
from .folder import ImageFolderDataset, TorchvisionDataset
from .shapes import ATTRIBUTES, HELDOUT_PAIRS, ShapesDataset, generate_shapes

__all__ = ["ShapesDataset", "generate_shapes", "ATTRIBUTES", "HELDOUT_PAIRS", "DigitsDataset",
           "load_digits_tensor", "ImageFolderDataset", "TorchvisionDataset"]
