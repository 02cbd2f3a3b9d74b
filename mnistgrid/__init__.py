"""mnistgrid: grids of MNIST training jobs on a queue of workers."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("mnistgrid")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+src"
