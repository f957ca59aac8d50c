"""Record classes for the commit hook path, without ``dataclasses``.

``ftgate check`` runs on every commit with a budget of a few tens of
milliseconds. Importing ``dataclasses`` pulls in ``inspect`` (about 10 ms
here) and building each class costs about half a millisecond more. The
hook's modules declare their records with :func:`record` instead: the same
annotated-class syntax, the same generated ``__init__``, ``__repr__``,
``__eq__`` (and ``__hash__`` and immutability when ``frozen``), ``__slots__``
when asked, and ``__post_init__`` when defined, built with one small ``exec``
per class. Only what the hook's records use is supported: no inheritance of
fields, no ``ClassVar``/``InitVar``, no ordering.

Type checkers see :func:`record` as a ``typing.dataclass_transform``, so
they check every record's constructor like a dataclass's. That marker and
the overloads live behind ``TYPE_CHECKING``: at run time the decorator is
the plain function below and ``typing`` is never imported.
"""

from __future__ import annotations

from collections.abc import Callable

TYPE_CHECKING = False  # typing itself costs milliseconds on this path
if TYPE_CHECKING:
    from typing import Any, TypeVar, dataclass_transform, overload

    T = TypeVar("T")
else:
    def dataclass_transform(**_):
        return lambda fn: fn

_MISSING = object()


class _Factory:
    __slots__ = ("make",)

    def __init__(self, make: Callable[[], Any]) -> None:
        self.make = make


def field(*, default_factory: Callable[[], T]) -> T:
    """A per-instance default, like ``dataclasses.field(default_factory=...)``."""
    made: Any = _Factory(default_factory)  # replaced by a fresh value in each __init__
    return made  # type: ignore[no-any-return]


class FrozenInstanceError(AttributeError):
    pass


def _frozen_setattr(self: Any, name: str, value: Any) -> None:
    raise FrozenInstanceError(f"cannot assign to field {name!r} of a frozen {type(self).__name__}")


if TYPE_CHECKING:
    @overload
    def record(cls: type[T], /) -> type[T]: ...

    @overload
    def record(*, frozen: bool = False, slots: bool = False) -> Callable[[type[T]], type[T]]: ...


@dataclass_transform(field_specifiers=(field,))
def record(cls: type[T] | None = None, /, *, frozen: bool = False,
           slots: bool = False) -> type[T] | Callable[[type[T]], type[T]]:
    def build(cls: type[T]) -> type[T]:
        # Not inspect.get_annotations: importing inspect costs the hook ~5 ms.
        names = list(cls.__dict__.get("__annotations__", {}))  # noqa: RUF063
        namespace: dict[str, Any] = {"_MISSING": _MISSING, "_setattr": object.__setattr__}
        params: list[str] = []
        lines: list[str] = []
        for name in names:
            default = cls.__dict__.get(name, _MISSING)
            if default is _MISSING:
                if any(p.endswith("=_MISSING") or "=_d_" in p for p in params):
                    raise TypeError(f"{cls.__name__}: field {name!r} without a default follows one with a default")
                params.append(name)
                value = name
            elif isinstance(default, _Factory):
                namespace[f"_f_{name}"] = default.make
                params.append(f"{name}=_MISSING")
                value = f"_f_{name}() if {name} is _MISSING else {name}"
            else:
                namespace[f"_d_{name}"] = default
                params.append(f"{name}=_d_{name}")
                value = name
            lines.append(f"    _setattr(self, {name!r}, {value})" if frozen else f"    self.{name} = {value}")
        if "__post_init__" in cls.__dict__:
            lines.append("    self.__post_init__()")
        source = f"def __init__(self, {', '.join(params)}):\n" + ("\n".join(lines) or "    pass") + "\n"
        exec(source, namespace)  # noqa: S102 - generated from the class's own field names

        body = {k: v for k, v in cls.__dict__.items()
                if k not in ("__dict__", "__weakref__") and not (slots and k in names)}
        body["__init__"] = namespace["__init__"]
        body["__init__"].__qualname__ = f"{cls.__qualname__}.__init__"
        fields = tuple(names)
        body["__match_args__"] = fields
        body["_record_fields"] = fields
        if slots:
            body["__slots__"] = fields
        if "__repr__" not in cls.__dict__:
            body["__repr__"] = _make_repr(fields)
        if "__eq__" not in cls.__dict__:
            body["__eq__"] = _make_eq(fields)
        if frozen:
            body["__setattr__"] = _frozen_setattr
            body["__delattr__"] = _frozen_setattr
            body["__hash__"] = _make_hash(fields)
        else:
            body["__hash__"] = None  # mutable and comparable: unhashable, as dataclasses do
        meta: Any = type(cls)
        new: type[T] = meta(cls.__name__, cls.__bases__, body)
        new.__qualname__ = cls.__qualname__
        return new

    return build if cls is None else build(cls)


def _make_repr(fields: tuple[str, ...]) -> Callable[[Any], str]:
    def __repr__(self: Any) -> str:
        inner = ", ".join(f"{name}={getattr(self, name)!r}" for name in fields)
        return f"{type(self).__qualname__}({inner})"

    return __repr__


def _make_eq(fields: tuple[str, ...]) -> Callable[[Any, Any], Any]:
    def __eq__(self: Any, other: Any) -> Any:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return all(getattr(self, name) == getattr(other, name) for name in fields)

    return __eq__


def _make_hash(fields: tuple[str, ...]) -> Callable[[Any], int]:
    def __hash__(self: Any) -> int:
        return hash(tuple(getattr(self, name) for name in fields))

    return __hash__


def replace(obj: T, **changes: Any) -> T:
    """A copy of a record with some fields changed."""
    values = {name: getattr(obj, name) for name in obj._record_fields}  # type: ignore[attr-defined]
    values.update(changes)
    return type(obj)(**values)
