"""GRPO reward functions: the built-ins and the user's own, resolved from the run config.

Each reward takes plain text, ``f(prompts, completions, references) -> list[float]``,
so the same function scores TRL's sampled completions during training and
ftgate's held-out outputs before and after it. A function named by dotted path
is imported from the repository before a run id is claimed: a typo fails in
seconds, not after the baseline.
"""

from __future__ import annotations

import importlib
import inspect
import math
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ftgate.errors import FtgateError
from ftgate.train.config import RewardSpec, RunConfig

TextReward = Callable[[Sequence[str], Sequence[str], Sequence[str]], list[float]]


def exact_match(prompts: Sequence[str], completions: Sequence[str], references: Sequence[str]) -> list[float]:
    return [1.0 if c.strip() == r.strip() else 0.0 for c, r in zip(completions, references, strict=True)]


def _regex(pattern: str) -> TextReward:
    compiled = re.compile(pattern)

    def regex(prompts: Sequence[str], completions: Sequence[str], references: Sequence[str]) -> list[float]:
        return [1.0 if compiled.fullmatch(c.strip()) else 0.0 for c in completions]

    return regex


def _length(target: int) -> TextReward:
    def length(prompts: Sequence[str], completions: Sequence[str], references: Sequence[str]) -> list[float]:
        # Partial credit that never reaches zero: a near miss beats a far one,
        # so even a policy that never hits the target gets a gradient toward it.
        return [1.0 / (1.0 + abs(len(c.strip()) - target) / target) for c in completions]

    return length


def _import_function(spec: str, root: Path, where: str) -> TextReward:
    module_name, _, attr = spec.partition(":") if ":" in spec else spec.rpartition(".")
    # The repository's own code first, as `python -m` from its root would see it.
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # noqa: BLE001 - any import failure is the user's to fix, with its message
        raise FtgateError(
            f"{where}: reward function {spec!r}: cannot import module {module_name!r}: {exc}",
            hint="the module path is relative to the repository root (e.g. src.rewards:score for src/rewards.py)",
        ) from None
    func = getattr(module, attr, None)
    if not callable(func):
        raise FtgateError(
            f"{where}: reward function {spec!r}: module {module_name!r} has no function {attr!r}",
            hint=f"define `def {attr}(prompts, completions, references) -> list[float]` in {module_name}",
        )
    try:
        inspect.signature(func).bind([], [], [])
    except TypeError:
        raise FtgateError(
            f"{where}: reward function {spec!r} cannot be called as f(prompts, completions, references)",
            hint="take three lists of strings and return one float per completion",
        ) from None
    result: TextReward = func
    return result


def resolve(spec: RewardSpec, root: Path, where: str = "grpo.rewards") -> TextReward:
    if spec.type == "exact_match":
        return exact_match
    if spec.type == "regex":
        assert spec.pattern is not None
        return _regex(spec.pattern)
    if spec.type == "length":
        assert spec.target is not None
        return _length(spec.target)
    assert spec.function is not None
    return _import_function(spec.function, root, where)


def resolve_all(config: RunConfig, root: Path) -> list[tuple[str, TextReward]]:
    """Every reward of the run as ``(label, function)``; raises before anything heavy runs."""
    assert config.grpo is not None
    return [(spec.label(), resolve(spec, root, f"grpo.rewards[{i}]")) for i, spec in enumerate(config.grpo.rewards)]


def checked(label: str, values: Any, n: int) -> list[float]:
    """A reward's output, refused in words when it is not one finite float per completion."""
    if not isinstance(values, (list, tuple)) or len(values) != n:
        raise FtgateError(f"reward {label!r} returned {type(values).__name__} of the wrong length; expected {n} floats")
    out = []
    for v in values:
        if not isinstance(v, (int, float)) or not math.isfinite(float(v)):
            raise FtgateError(f"reward {label!r} returned {v!r}; every reward must be a finite number")
        out.append(float(v))
    return out


def _text(value: Any) -> str:
    """TRL passes conversational prompts and completions as message lists; rewards see text."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and value and isinstance(value[-1], dict):
        return str(value[-1].get("content", ""))
    return str(value)


def for_trl(label: str, func: TextReward) -> Callable[..., list[float]]:
    """Wrap a text reward in TRL's calling convention (keyword arguments, dataset columns as kwargs)."""

    def reward(prompts: list[Any], completions: list[Any], reference: list[str], **_: Any) -> list[float]:
        texts = [_text(c) for c in completions]
        return checked(label, func([_text(p) for p in prompts], texts, list(reference)), len(texts))

    # TRL names the logged curve after the function.
    reward.__name__ = label
    return reward
