"""The one registry helper: names -> entries whose ``target`` is ``"module:attr"``, on demand.

Every registry of the project (backends, detectors, export formats, datasets) is a
:class:`Registry` over a plain dict literal. Listing names imports nothing; :meth:`Registry.load`
imports the entry's module only when it is asked for, so an optional runtime is never loaded
for a name that is not used. An unknown name raises :class:`~gldpose_sdk.errors.UnknownNameError`
listing the valid ones.
"""
from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from typing import Any, Generic, Iterator, Mapping, Protocol, TypeVar

from gldpose_sdk.errors import UnknownNameError


class HasTarget(Protocol):
    """An entry: ``target`` is ``"module:attr"`` (module relative to the registry's package)."""

    target: str


E = TypeVar("E", bound=HasTarget)


@dataclass(frozen=True)
class Registry(Generic[E]):
    """A named set of entries.

    Attributes:
        kind: what the names are, for messages (``"backend"``, ``"export format"``, ...).
        package: package the targets' modules live in (``"ort:ONNXRuntimeBackend"`` ->
            ``package.ort``); "" when targets name absolute modules.
        entries: name -> entry.
    """

    kind: str
    package: str
    entries: Mapping[str, E]

    def names(self) -> list[str]:
        """The registered names, sorted."""
        return sorted(self.entries)

    def __contains__(self, name: object) -> bool:
        return name in self.entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, name: str) -> E:
        return self.entry(name)

    def entry(self, name: str) -> E:
        """The entry of ``name``.

        Raises:
            UnknownNameError: no such name (the message lists the valid ones).
        """
        if name not in self.entries:
            raise UnknownNameError(f"unknown {self.kind} {name!r}; choose one of "
                                   f"{', '.join(self.names())}")
        return self.entries[name]

    def load(self, name: str) -> Any:
        """Import and return what ``name``'s entry points at."""
        return resolve_target(self.entry(name).target, self.package)


def resolve_target(target: str, package: str = "") -> Any:
    """Import ``"module:attr"``; the module is relative to ``package`` when one is given."""
    module_name, _, attr = target.partition(":")
    if package:
        module_name = f"{package}.{module_name}"
    return getattr(importlib.import_module(module_name), attr)


def is_installed(module: str) -> bool:
    """True when ``module`` can be imported (found by ``importlib.util.find_spec``, not run)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a missing parent package of a dotted name
        return False
