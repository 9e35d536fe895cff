"""Image data for nsearch, held in memory as tensors."""

from nsearch.data.modules import DATASETS, ImageDataModule, Splits, TensorLoader

__all__ = ["DATASETS", "ImageDataModule", "Splits", "TensorLoader"]
