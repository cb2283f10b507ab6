"""Griffe extension: every object is documented once, in the module that defines it.

The API pages render each subpackage with its submodules (``show_submodules``), so a page
follows the code when modules are split or moved. A name that a module re-exports
(``from targeting.models.propensity import PropensityModel`` in ``targeting/models/__init__.py``,
listed in ``__all__``) would otherwise be rendered a second time; this hides the re-export.
The root package ``targeting`` is left alone (its page shows only its docstring).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import griffe


class HideReexports(griffe.Extension):
    """Mark names that a module imports from elsewhere in the package as not public."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        for module in _submodules(pkg):
            for member in module.members.values():
                if member.is_alias and member.target_path.startswith(f"{pkg.name}."):
                    member.public = False


def _submodules(module: griffe.Module) -> Iterator[griffe.Module]:
    for child in module.modules.values():
        if not child.is_alias:
            yield child
            yield from _submodules(child)
