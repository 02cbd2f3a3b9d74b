"""The optional extras, imported only when asked for, with one line saying how to get one."""

from __future__ import annotations

import importlib
from types import ModuleType

from mnistgrid.errors import BadInput

# module -> the extra that installs it
EXTRAS = {"pandas": "pandas", "pyarrow": "parquet"}


class MissingExtra(BadInput):
    """An optional dependency is not installed."""


def require(module: str) -> ModuleType:
    """`import module`, or `MissingExtra` naming the extra that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        extra = EXTRAS[module.split(".")[0]]
        raise MissingExtra(
            f"{module.split('.')[0]} is not installed: pip install 'mnistgrid[{extra}]'"
        ) from None
