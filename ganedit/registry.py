"""The component registry, filled by pluggy plugins discovered through entry points.

A plugin's ``register_components`` hook hands its component classes to ``register(*classes)``;
each class declares its name (``class X(ganedit.Editor, name="x")``) and its kind follows from the
interface it implements, which the registry checks (one interface, a name, a ``Params`` model, no
abstract method left).

Each plugin is loaded and registered on its own: a plugin that fails to import or register is
recorded as ``broken`` with its error and never affects the others (``GANEDIT_STRICT_PLUGINS=1``
or ``strict=True`` re-raises). Two distributions registering the same ``(kind, name)`` are both
kept; a bare name that is ambiguous fails and lists the qualified ``dist:name`` choices.
"""

from __future__ import annotations

import difflib
import importlib.metadata as md
import inspect
import os
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import pluggy

from ganedit import hookspecs
from ganedit.errors import GanEditError
from ganedit.interfaces import INTERFACES, KINDS, Component, Params


class RegistryError(GanEditError, LookupError):
    """Unknown, ambiguous or invalid component lookups."""


class PluginError(GanEditError, RuntimeError):
    """A plugin failed to load or register (raised only in strict mode)."""


@dataclass
class Entry:
    """One registered component."""

    kind: str
    name: str
    cls: type
    dist: str
    plugin: str

    @property
    def qualified_name(self) -> str:
        return f"{self.dist}:{self.name}"

    @property
    def params_model(self) -> type[Params]:
        return getattr(self.cls, "Params", Params)

    @property
    def summary(self) -> str:
        doc = (self.cls.__doc__ or "").strip().splitlines()
        return doc[0] if doc else ""

    @property
    def location(self) -> str:
        """``file:line`` of the class statement (the file relative to the working folder when below it)."""
        try:
            path = inspect.getsourcefile(self.cls) or "?"
            line = inspect.getsourcelines(self.cls)[1]
        except (OSError, TypeError):
            return f"{self.cls.__module__} (source not available)"
        rel = os.path.relpath(path)
        return f"{path if rel.startswith('..') else rel}:{line}"


@dataclass
class CheckpointFormat:
    name: str
    sniff: Callable[[Any], bool]
    convert: Callable[[Any, Any], None]
    description: str
    dist: str


@dataclass
class PluginInfo:
    """What ``ganedit plugins`` shows for one plugin."""

    name: str
    dist: str
    version: str
    status: str = "ok"  # ok | warning | broken | disabled
    error: str = ""
    warning: str = ""
    traceback: str = ""
    components: list[str] = field(default_factory=list)
    formats: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "distribution": self.dist,
            "version": self.version,
            "status": self.status,
            "error": self.error,
            "warning": self.warning,
            "components": self.components,
            "formats": self.formats,
        }


class Registrar:
    """The ``register`` callback handed to a plugin's hooks; records attribution."""

    def __init__(self, registry: "Registry", plugin: PluginInfo):
        self._registry = registry
        self._plugin = plugin
        self.added: list[Entry] = []
        self.hooked = False  # the plugin implements this hook

    def __call__(self, *classes: type) -> None:
        if classes and isinstance(classes[0], str):
            raise RegistryError(
                f"plugin {self._plugin.name!r}: register(kind, name, cls) is no longer supported; declare the "
                "name at the class, e.g. class MyEditor(ganedit.Editor, name='my_editor'), and call "
                "register(MyEditor) (the kind follows from the interface)")
        for cls in classes:
            self._add(cls)

    def _add(self, cls: type) -> None:
        who = f"plugin {self._plugin.name!r}"
        if not isinstance(cls, type):
            raise RegistryError(f"{who}: register() takes component classes, got {cls!r}")
        if not issubclass(cls, Component):
            raise RegistryError(
                f"{who}: {cls.__name__} is not a component: subclass one of ganedit's interfaces "
                f"({', '.join(i.__name__ for i in INTERFACES.values())}), declare its name "
                f"(class {cls.__name__}(ganedit.Editor, name='...')) and nest a Params model subclassing "
                "ganedit.Params")
        kind = cls.kind
        if kind not in KINDS:
            raise RegistryError(f"{who}: {cls.__name__} has unknown kind {kind!r}; kinds: {', '.join(KINDS)}")
        implemented = [k for k, iface in INTERFACES.items() if issubclass(cls, iface)]
        if implemented != [kind]:
            raise RegistryError(f"{who}: {cls.__name__} is registered as a {kind} but implements the "
                                f"interfaces of {implemented or 'no kind'}; a component implements exactly one")
        name = cls.name
        if not name or not isinstance(name, str) or ":" in name:
            raise RegistryError(f"{who}: {kind} {cls.__name__} declares no usable name; write "
                                f"class {cls.__name__}(..., name='a_name') (no ':')")
        params = getattr(cls, "Params", None)
        if params is None or not (isinstance(params, type) and issubclass(params, Params)):
            raise RegistryError(f"{who}: {kind} {name!r} needs a nested Params model subclassing ganedit.Params")
        if inspect.isabstract(cls):
            missing = ", ".join(sorted(getattr(cls, "__abstractmethods__", ())))
            raise RegistryError(f"{who}: {kind} {name!r} ({cls.__name__}) does not implement the "
                                f"{INTERFACES[kind].__name__} interface: abstract {missing}")
        for e in self._registry.entries(kind):
            if e.name == name and e.dist == self._plugin.dist:
                raise RegistryError(f"{who} registers {kind} {name!r} twice")
        entry = Entry(kind, name, cls, self._plugin.dist, self._plugin.name)
        self._registry._entries.append(entry)
        self.added.append(entry)
        self._plugin.components.append(f"{kind}:{name}")


class FormatRegistrar:
    def __init__(self, registry: "Registry", plugin: PluginInfo):
        self._registry = registry
        self._plugin = plugin
        self.added: list[CheckpointFormat] = []
        self.hooked = False

    def __call__(self, name: str, sniff: Callable, convert: Callable, description: str = "") -> None:
        fmt = CheckpointFormat(name, sniff, convert, description, self._plugin.dist)
        self._registry._formats.append(fmt)
        self.added.append(fmt)
        self._plugin.formats.append(name)


def _strict_default() -> bool:
    return os.environ.get("GANEDIT_STRICT_PLUGINS", "") not in ("", "0", "false", "no")


class Registry:
    """Components and checkpoint formats registered by plugins."""

    def __init__(self, strict: bool | None = None):
        self.strict = _strict_default() if strict is None else strict
        self.pm = pluggy.PluginManager("ganedit")
        self.pm.add_hookspecs(hookspecs)
        self._entries: list[Entry] = []
        self._formats: list[CheckpointFormat] = []
        self.plugins: list[PluginInfo] = []

    # ------------------------------------------------------------------ loading
    def load_entry_points(self, group: str = "ganedit") -> "Registry":
        """Discover and register every plugin of the entry-point ``group``."""
        disabled = {s.strip() for s in os.environ.get("GANEDIT_DISABLE_PLUGINS", "").split(",") if s.strip()}
        only = os.environ.get("GANEDIT_LOAD_PLUGINS")
        allow = None if only is None else {s.strip() for s in only.split(",") if s.strip()}
        eps = sorted(md.entry_points(group=group), key=lambda ep: (ep.dist.name if ep.dist else "", ep.name))
        for ep in eps:
            dist = ep.dist.name if ep.dist is not None else "unknown"
            version = ep.dist.version if ep.dist is not None else "unknown"
            info = PluginInfo(name=ep.name, dist=dist, version=version)
            if ep.name in disabled or dist in disabled or (allow is not None and ep.name not in allow
                                                            and dist not in allow):
                info.status = "disabled"
                self.plugins.append(info)
                continue
            try:
                obj = ep.load()
            except Exception as exc:  # noqa: BLE001 - isolation is the point
                self._mark_broken(info, exc, "import")
                continue
            self.add_plugin(obj, info=info)
        return self

    def add_plugin(self, obj: Any, name: str | None = None, dist: str | None = None,
                   version: str = "0", info: PluginInfo | None = None) -> PluginInfo:
        """Register a plugin object (module or instance with hookimpls); used by tests and embedders."""
        if info is None:
            pname = name or getattr(obj, "__name__", type(obj).__name__)
            info = PluginInfo(name=pname, dist=dist or pname, version=version)
        try:
            self.pm.register(obj, name=f"{info.dist}:{info.name}")
        except Exception as exc:  # noqa: BLE001
            self._mark_broken(info, exc, "register")
            return info
        registrar = Registrar(self, info)
        fregistrar = FormatRegistrar(self, info)
        try:
            for impl in self.pm.hook.register_components.get_hookimpls():
                if impl.plugin is obj:
                    registrar.hooked = True
                    impl.function(register=registrar)
            for impl in self.pm.hook.register_checkpoint_formats.get_hookimpls():
                if impl.plugin is obj:
                    fregistrar.hooked = True
                    impl.function(register=fregistrar)
        except Exception as exc:  # noqa: BLE001
            # Roll back the half-done registration so no partial plugin stays visible.
            self._entries = [e for e in self._entries if e not in registrar.added]
            self._formats = [f for f in self._formats if f not in fregistrar.added]
            info.components.clear()
            info.formats.clear()
            self.pm.unregister(obj)
            self._mark_broken(info, exc, "register")
            return info
        if not (registrar.hooked or fregistrar.hooked):
            # Loads, but implements no hook: usually an entry point aimed at the wrong module.
            info.status = "warning"
            info.warning = ("implements no ganedit hook (register_components / register_checkpoint_formats), "
                            "so it registers nothing; does its entry point name the module with the @hookimpl "
                            "functions?")
        self.plugins.append(info)
        return info

    def _mark_broken(self, info: PluginInfo, exc: BaseException, stage: str) -> None:
        info.status = "broken"
        info.error = f"{stage} failed: {type(exc).__name__}: {exc}"
        info.traceback = "".join(traceback.format_exception(exc))
        self.plugins.append(info)
        if self.strict:
            raise PluginError(f"plugin {info.name!r} ({info.dist}) {info.error}") from exc

    # ------------------------------------------------------------------ lookups
    def entries(self, kind: str | None = None) -> list[Entry]:
        return [e for e in self._entries if kind is None or e.kind == kind]

    def names(self, kind: str) -> list[str]:
        return sorted({e.name for e in self.entries(kind)})

    def get(self, kind: str, name: str) -> Entry:
        """Look up ``name`` (bare or ``dist:name``) among components of ``kind``."""
        if kind not in KINDS:
            raise RegistryError(f"unknown kind {kind!r}; kinds: {', '.join(KINDS)}")
        if ":" in name:
            dist, bare = name.rsplit(":", 1)
            found = [e for e in self.entries(kind) if e.name == bare and e.dist == dist]
        else:
            found = [e for e in self.entries(kind) if e.name == name]
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            choices = ", ".join(sorted(e.qualified_name for e in found))
            raise RegistryError(f"{kind} type {name!r} is ambiguous: registered by several plugins; "
                                f"use one of: {choices}")
        known = self.names(kind) + [e.qualified_name for e in self.entries(kind)]
        hint = difflib.get_close_matches(name, known, n=1)
        msg = f"unknown {kind} type {name!r}"
        if hint:
            msg += f"; did you mean {hint[0]!r}?"
        elif known:
            msg += f"; available: {', '.join(self.names(kind))}"
        else:
            msg += "; no plugin registers any"
        for plugin in self.plugins:
            if plugin.status == "broken":
                msg += f"; plugin {plugin.name!r} ({plugin.dist}) failed to load: {plugin.error}; it may provide this component"
        raise RegistryError(msg)

    def find(self, name: str) -> list[Entry]:
        """All entries called ``name`` (any kind), for ``ganedit describe``."""
        bare = name.rsplit(":", 1)[-1]
        dist = name.rsplit(":", 1)[0] if ":" in name else None
        return [e for e in self._entries if e.name == bare and (dist is None or e.dist == dist)]

    @property
    def formats(self) -> list[CheckpointFormat]:
        return list(self._formats)

    def sniff(self, path: Any) -> CheckpointFormat | None:
        """The first registered format whose ``sniff`` accepts ``path``."""
        for fmt in self._formats:
            try:
                if fmt.sniff(path):
                    return fmt
            except Exception:  # noqa: BLE001 - a sniffer must never break others
                continue
        return None


_DEFAULT: Registry | None = None


def load_registry(reload: bool = False, strict: bool | None = None) -> Registry:
    """The process-wide registry of installed plugins (loaded once, ``reload=True`` to refresh)."""
    global _DEFAULT
    if _DEFAULT is None or reload or (strict is not None and strict != _DEFAULT.strict):
        _DEFAULT = Registry(strict=strict).load_entry_points()
    return _DEFAULT


def set_registry(registry: Registry | None) -> None:
    """Replace the process-wide registry (tests, embedding)."""
    global _DEFAULT
    _DEFAULT = registry


def iter_components(registry: Registry, kinds: Iterable[str] | None = None) -> Iterable[Entry]:
    kinds = list(kinds) if kinds else list(KINDS)
    for k in kinds:
        yield from sorted(registry.entries(k), key=lambda e: (e.name, e.dist))
