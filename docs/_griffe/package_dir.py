"""Griffe extension for jaxjam's API reference (used by mkdocstrings, see ``mkdocs.yml``).

1. **Subpackages installed from other directories.** ``pyproject.toml`` maps
   ``jaxjam.data_gen`` to ``data_gen/`` and ``jaxjam.inference`` to ``inference/``
   (``[tool.setuptools.package-dir]``). Griffe's static loader finds a package's submodules by
   walking the package's own directory, so it never sees those two. This extension reads the
   same table from ``pyproject.toml`` (the one source of truth) and, once griffe has loaded
   ``jaxjam``, visits each mapped directory and attaches it under its installed name, so that
   ``::: jaxjam.inference`` and references to ``jaxjam.data_gen.store`` resolve as they would on
   an installed wheel. Static analysis only: no install and no import of the package needed.
2. **A name bound in a package's ``__init__`` shadows a submodule of the same name**, as in
   Python: ``from jaxjam.inference.fit import fit`` makes ``jaxjam.inference.fit`` the function.
   Griffe keeps the submodule there instead; here the re-exported object wins (after every
   reference that goes through the submodule has been resolved).
3. **Sphinx roles** in docstrings (``:func:`name```, ``:class:`~a.b```, ...) become optional
   cross-references: a link when the target is rendered somewhere in the site, code otherwise.
4. **``#:`` comments** above an attribute (Sphinx autodoc's attribute docstrings, e.g. on
   ``jaxjam.reference.LABELS``) become that attribute's docstring when it has none.

Only griffe's public API is used (``griffe.visit``, ``ModuleFinder.iter_submodules``,
``Object.set_member``/``resolve``, ``Alias.target``, ``GriffeLoader.expand_exports``).
"""

from __future__ import annotations

import contextlib
import html
import re
import tomllib
from pathlib import Path
from typing import Any

import griffe

_ROOT = Path(__file__).resolve().parents[2]  # docs/_griffe/package_dir.py -> repository root

_ROLE = re.compile(
    r":(?:py:)?(?:func|class|mod|meth|data|attr|obj|exc|const|type):`(?P<tilde>~?)(?P<target>[^`<>]+)`"
)


def _package_dirs(pyproject: Path) -> dict[str, Path]:
    """``package-dir`` entries whose directory is not the dotted name's own path."""
    table = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    mapping = table.get("tool", {}).get("setuptools", {}).get("package-dir", {})
    out = {}
    for name, directory in mapping.items():
        if not name or Path(directory) == Path(*name.split(".")):
            continue  # the root package (""), or a package already where griffe looks
        out[name] = (pyproject.parent / directory).resolve()
    return out


def _walk(obj: griffe.Object):
    """Every object (not alias) under ``obj``, ``obj`` included."""
    yield obj
    for member in list(obj.members.values()):
        if not member.is_alias:
            yield from _walk(member)


def _walk_aliases(obj: griffe.Object):
    for member in list(obj.members.values()):
        if member.is_alias:
            yield member
        else:
            yield from _walk_aliases(member)


class PackageDir(griffe.Extension):
    """See the module docstring."""

    def __init__(self, pyproject: str | None = None, sphinx_roles: bool = True) -> None:
        super().__init__()
        self.pyproject = Path(pyproject) if pyproject else _ROOT / "pyproject.toml"
        self.sphinx_roles = sphinx_roles
        self._shadowed: dict[str, list] = {}

    # -- 1. package-dir -------------------------------------------------------------------------

    def _visit(self, loader, name: str, path: Path, parent: griffe.Module, shadowed: list):
        code = path.read_text(encoding="utf-8-sig")
        loader.lines_collection[path] = code.splitlines(keepends=False)
        module = griffe.visit(
            name,
            filepath=path,
            code=code,
            extensions=loader.extensions,
            parent=parent,
            docstring_parser=loader.docstring_parser,
            docstring_options=loader.docstring_options,
            lines_collection=loader.lines_collection,
            modules_collection=loader.modules_collection,
        )
        old = parent.members.get(name)
        if old is not None and old.is_alias:
            shadowed.append((parent, name, old))
        parent.set_member(name, module)
        return module

    def _attach(self, pkg: griffe.Module, loader: griffe.GriffeLoader, shadowed: list) -> None:
        mapping = _package_dirs(self.pyproject)
        for dotted in sorted(mapping, key=lambda n: n.count(".")):  # parents first
            top, *parts = dotted.split(".")
            if top != pkg.name or not parts:
                continue
            parent = pkg
            for part in parts[:-1]:
                parent = parent.get_member(part)
            name = parts[-1]
            if name in parent.members and parent.members[name].is_module:
                continue  # already there (found on disk, or attached before)
            init = mapping[dotted] / "__init__.py"
            if not init.is_file():
                raise FileNotFoundError(f"package-dir {dotted!r} -> {init}: no __init__.py")
            module = self._visit(loader, name, init, parent, shadowed)
            subs = loader.finder.iter_submodules(init)
            for subparts, subpath in sorted(subs, key=lambda item: len(item[0])):
                sub_parent = module
                for part in subparts[:-1]:
                    sub_parent = sub_parent.get_member(part)
                self._visit(loader, subparts[-1], subpath, sub_parent, shadowed)
            loader.expand_exports(module)
            loader.expand_wildcards(module, external=False)

    # -- 2. shadowed submodules -----------------------------------------------------------------

    def _unshadow(self, pkg: griffe.Module, loader: griffe.GriffeLoader, shadowed: list) -> None:
        collection = loader.modules_collection
        for parent, name, alias in shadowed:
            prefix = f"{parent.path}.{name}."
            for other in [alias, *_walk_aliases(pkg)]:
                if other.target_path.startswith(prefix) and not other.resolved:
                    with contextlib.suppress(KeyError, ValueError, griffe.AliasResolutionError):
                        other.target = collection.get_member(other.target_path)
            parent.set_member(name, alias)  # the submodule stays the parent of its objects

    # -- 3. Sphinx roles ------------------------------------------------------------------------

    def _link(self, owner: griffe.Object, match: re.Match, top: str) -> str:
        target = match["target"].strip().lstrip(".")
        shown = target.rsplit(".", 1)[-1] if match["tilde"] else target
        first, _, rest = target.partition(".")
        path = target
        if first != top:
            with contextlib.suppress(griffe.NameResolutionError):
                path = owner.resolve(first) + (f".{rest}" if rest else "")
        code = f"<code>{html.escape(shown)}</code>"
        return f'<autoref identifier="{html.escape(path)}" optional hover>{code}</autoref>'

    def _roles(self, pkg: griffe.Module) -> None:
        for obj in _walk(pkg):
            if obj.docstring and ":" in obj.docstring.value:
                obj.docstring.value = _ROLE.sub(
                    lambda m, o=obj: self._link(o, m, pkg.name), obj.docstring.value
                )

    # -- 4. `#:` attribute comments --------------------------------------------------------------

    def _comment_docstrings(self, pkg: griffe.Module, loader: griffe.GriffeLoader) -> None:
        for obj in _walk(pkg):
            if not obj.is_attribute or obj.docstring or not obj.lineno:
                continue
            try:
                lines = loader.lines_collection[obj.filepath]
            except (KeyError, TypeError):
                continue
            doc, i = [], obj.lineno - 2  # the line above the assignment (0-based)
            while i >= 0 and lines[i].lstrip().startswith("#:"):
                doc.insert(0, lines[i].lstrip()[2:].strip())
                i -= 1
            if doc:
                obj.docstring = griffe.Docstring(
                    "\n".join(doc),
                    lineno=i + 2,
                    endlineno=obj.lineno - 1,
                    parent=obj,
                    parser=loader.docstring_parser,
                    parser_options=loader.docstring_options,
                )

    def on_package(self, *, pkg: griffe.Module, loader: griffe.GriffeLoader, **kwargs: Any) -> None:
        shadowed: list = []
        self._attach(pkg, loader, shadowed)
        self._comment_docstrings(pkg, loader)
        if self.sphinx_roles:
            self._roles(pkg)
        self._shadowed[pkg.path] = shadowed

    def on_module(self, *, mod: griffe.Module, loader: griffe.GriffeLoader, **kwargs: Any) -> None:
        # Fired for the package right after every extension's `on_package`: the other
        # extensions (griffe's dataclasses one adds `__init__` signatures) have seen the
        # shadowed submodules by then.
        if mod.parent is None and mod.path in self._shadowed:
            self._unshadow(mod, loader, self._shadowed.pop(mod.path))
