"""Datasets (Contract 1): built-ins and the user's own files as uint8 NHWC tensors, plus splits."""
from mnistlab.data.datasets import Dataset, from_arrays, load_dataset
from mnistlab.data.splits import Splits, make_splits

__all__ = ["Dataset", "Splits", "from_arrays", "load_dataset", "make_splits"]
