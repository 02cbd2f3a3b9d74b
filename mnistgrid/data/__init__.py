"""Data: MNIST from idx files, a fastai PNG tree or a download, as the tensors a job trains on.

May import: the ground and `mnistgrid.core` (for `TrainData`, the tensors the core reads).
"""
