"""The garbage collector around a command's imports.

Imports make hundreds of thousands of objects that live as long as the process: collecting them
again and again as they come cost a tenth of a command's start-up, and the interpreter's last
collections at exit over all of them took 0.15 s, more than most commands' work. So `mnistgrid`
pauses the collector while it imports, freezes what the imports made (out of every later
collection's way), and runs the collector for the command's own work.
"""

from __future__ import annotations

import gc
import importlib
from collections.abc import Callable
from types import ModuleType


def resume_collector() -> None:
    """Once the command's imports are done: freeze what they made and collect again."""
    if not gc.isenabled():
        gc.freeze()
        gc.enable()


def import_work(module: str) -> ModuleType:
    """The module that does a command's work, imported once the command runs, with the
    collector paused as for the command's own module."""
    gc.disable()
    try:
        return importlib.import_module(module)
    finally:
        resume_collector()


def work_beside(command_module: str) -> Callable[[], ModuleType]:
    """For a command's module `X_cmd`: what imports its work, `X_work` beside it, when called."""
    if not command_module.endswith("_cmd"):
        raise ValueError(f"{command_module} is not a command's module (X_cmd)")
    work = command_module.removesuffix("_cmd") + "_work"
    return lambda: import_work(work)
