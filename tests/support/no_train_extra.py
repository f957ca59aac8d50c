"""A pytest plugin that hides the ``train`` extra, for proving the suite still
collects and skips cleanly on an install without it::

    python -m pytest -p tests.support.no_train_extra tests/train

Loaded with ``-p`` it runs before any conftest, so every later
``import torch`` (or ``importlib.util.find_spec("torch")``) fails exactly as
it would if the package were not installed."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType

HIDDEN = frozenset({"torch", "transformers", "trl", "peft", "datasets", "accelerate"})


class _HideTrainExtra:
    def find_spec(self, name: str, path: Sequence[str] | None = None,
                  target: ModuleType | None = None) -> ModuleSpec | None:
        if name.partition(".")[0] in HIDDEN:
            raise ModuleNotFoundError(f"No module named {name!r} (hidden by tests.support.no_train_extra)",
                                      name=name)
        return None


already = sorted(name for name in sys.modules if name.partition(".")[0] in HIDDEN)
if already:
    raise RuntimeError(f"cannot hide the train extra: already imported {already}")
sys.meta_path.insert(0, _HideTrainExtra())
