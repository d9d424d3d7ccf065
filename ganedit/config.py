"""Run configs: YAML -> validated pydantic models, with one-line errors naming the path.

A run config names a ``task`` plus the task's own fields. Component slots are written as
``{type: NAME, params: {...}}``; each component's ``params`` are validated by the ``Params`` model
its plugin registered (extra keys forbidden), recursively for nested components. Everything is
checked before any weights load.
"""

from __future__ import annotations

import copy
import difflib
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator

from ganedit.errors import GanEditError
from ganedit.interfaces import Params


class Kind:
    """Annotation marker: ``Annotated[ComponentSpec, Kind('generator')]`` is a generator slot."""

    def __init__(self, kind: str):
        self.kind = kind

    def __repr__(self) -> str:
        return f"Kind({self.kind!r})"


class ComponentSpec(BaseModel):
    """``{type: NAME, params: {...}}``; ``NAME`` may be qualified as ``dist:name``."""

    model_config = ConfigDict(extra="forbid")

    type: str = Field(description="registered component name (or dist:name)")
    params: dict[str, Any] = Field(default_factory=dict, description="the component's parameters")
    _validated: Params | None = PrivateAttr(default=None)
    _entry: Any = PrivateAttr(default=None)

    @property
    def validated(self) -> Params | None:
        """The params validated by the component's model (set by config validation)."""
        return self._validated

    @property
    def entry(self) -> Any:
        return self._entry

    @property
    def cls(self) -> type:
        if self._entry is None:
            raise RuntimeError("component spec has not been validated against a registry")
        return self._entry.cls

    def resolved(self) -> dict[str, Any]:
        """The spec with every default filled in (for the run's ``config.yaml``)."""
        if self._validated is None:
            return {"type": self.type, "params": dict(self.params)}
        return {"type": self.type, "params": _dump_params(self._validated)}


@dataclass
class Problem:
    path: str
    component: str | None
    message: str

    def __str__(self) -> str:
        comp = f" ({self.component})" if self.component else ""
        return f"{self.path}{comp}: {self.message}"


class ConfigError(GanEditError, ValueError):
    """One or more config problems; ``str()`` gives one line per problem."""

    def __init__(self, problems: list[Problem] | str):
        if isinstance(problems, str):
            problems = [Problem("config", None, problems)]
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


COMMON_KEYS = {"task", "seed", "device", "threads", "output", "description", "downloads"}
#: Largest seed (32 bits, numpy's range): tasks derive seeds from it with offsets and multiples
#: (per image, per process, per training step) that must stay within torch's 64 bits.
MAX_SEED = 2**32 - 1


class RunConfig(BaseModel):
    """A validated run config: the common keys plus the task's params."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    task: str
    seed: int = Field(0, ge=0, le=MAX_SEED, description="global random seed")
    device: Literal["auto", "cpu", "cuda"] = "auto"
    threads: int | None = Field(None, ge=1, description="torch CPU threads for this run (default: torch's "
                                                         "choice, usually one per core); on a small shared "
                                                         "machine 1 is often fastest")
    output: str | None = None
    description: str = ""
    downloads: dict[str, str] = Field(default_factory=dict, description="files the config needs that ganedit "
                                      "does not ship: {path or folder: where to get it}; 'not found' problems "
                                      "under those paths quote it (not part of resolved())")
    params: Any = None  # the task's validated Params
    source: str | None = None

    @field_validator("task")
    @classmethod
    def _task_name(cls, v: str) -> str:
        if not v:
            raise ValueError("task must be a registered task name")
        return v

    def resolved(self) -> dict[str, Any]:
        """Plain dict with all defaults, suitable for ``config.yaml`` (re-validates identically)."""
        out: dict[str, Any] = {"task": self.task, "seed": self.seed, "device": self.device}
        if self.threads is not None:
            out["threads"] = self.threads
        if self.output is not None:
            out["output"] = self.output
        if self.description:
            out["description"] = self.description
        out.update(_dump_params(self.params))
        return out


# --------------------------------------------------------------------------- helpers


def _dump_params(model: BaseModel) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in type(model).model_fields:
        value = getattr(model, name)
        out[name] = _dump_value(value)
    return out


def _dump_value(value: Any) -> Any:
    if isinstance(value, ComponentSpec):
        return value.resolved()
    if isinstance(value, BaseModel):
        return _dump_params(value)
    if isinstance(value, (list, tuple)):
        return [_dump_value(v) for v in value]
    if isinstance(value, dict):
        return {k: _dump_value(v) for k, v in value.items()}
    if isinstance(value, Path):
        return str(value)
    return value


def _field_names_at(model: type[BaseModel] | None, loc: tuple) -> list[str]:
    """Field names of the (sub)model at ``loc``, for 'did you mean' hints."""
    cur: Any = model
    for part in loc:
        if isinstance(part, int) or cur is None:
            continue
        if isinstance(cur, type) and issubclass(cur, BaseModel) and part in cur.model_fields:
            ann = cur.model_fields[part].annotation
            cur = _unwrap_model(ann)
        else:
            return []
    if isinstance(cur, type) and issubclass(cur, BaseModel):
        return list(cur.model_fields)
    return []


def _unwrap_model(ann: Any) -> Any:
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return ann
    for arg in typing.get_args(ann):
        found = _unwrap_model(arg)
        if found is not None:
            return found
    return None


def _format_value(v: Any) -> str:
    s = repr(v)
    return s if len(s) <= 60 else s[:57] + "..."


def pydantic_problems(exc: ValidationError, prefix: str, component: str | None,
                      model: type[BaseModel] | None) -> list[Problem]:
    """Turn a pydantic ValidationError into one Problem per error."""
    problems = []
    for err in exc.errors():
        loc = tuple(err.get("loc", ()))
        path = ".".join([prefix] + [str(p) for p in loc]) if prefix else ".".join(str(p) for p in loc)
        etype = err.get("type", "")
        if etype == "extra_forbidden":
            names = _field_names_at(model, loc[:-1])
            hint = difflib.get_close_matches(str(loc[-1]), names, n=1)
            msg = "unknown key"
            msg += f"; did you mean {hint[0]!r}?" if hint else (f"; valid keys: {', '.join(names)}" if names else "")
        elif etype == "missing":
            msg = "required key is missing"
        elif etype in ("path_not_file", "path_not_exists", "path_not_directory"):
            what = "directory" if etype == "path_not_directory" else "file"
            msg = f"{what} not found: {str(err.get('input'))!r}"
        else:
            msg = err.get("msg", "invalid value")
            if "input" in err and etype not in ("model_type", "dict_type"):
                msg += f" (got {_format_value(err['input'])})"
        problems.append(Problem(path or prefix, component, msg))
    return problems


def component_slots(model: type[BaseModel]) -> dict[str, str]:
    """Fields of ``model`` annotated with :class:`Kind`: ``{field: kind}``."""
    slots = {}
    for name, f in model.model_fields.items():
        for meta in f.metadata:
            if isinstance(meta, Kind):
                slots[name] = meta.kind
        if name not in slots:
            for arg in typing.get_args(f.annotation):
                for meta in getattr(arg, "__metadata__", ()):
                    if isinstance(meta, Kind):
                        slots[name] = meta.kind
    return slots


def _walk_slots(registry: Any, model: BaseModel, path: str) -> list[Problem]:
    """Validate every nested component spec inside an already-parsed params model."""
    problems: list[Problem] = []
    for name, kind in component_slots(type(model)).items():
        value = getattr(model, name)
        if value is None:
            continue
        items = list(enumerate(value)) if isinstance(value, list) else [(None, value)]
        for idx, spec in items:
            sub = f"{path}.{name}" if path else name
            if idx is not None:
                sub = f"{sub}.{idx}"
            if not isinstance(spec, ComponentSpec):
                continue
            _, _, errs = validate_component(registry, kind, spec, path=sub)
            problems.extend(errs)
    return problems


def validate_component(registry: Any, kind: str, spec: Any, path: str) -> tuple[Any, Any, list[Problem]]:
    """Validate ``spec`` for a component of ``kind``; returns ``(entry, params, problems)``."""
    from ganedit.registry import RegistryError

    if isinstance(spec, ComponentSpec):
        cs = spec
    else:
        if not isinstance(spec, dict):
            return None, None, [Problem(path, None, f"expected a mapping {{type: NAME, params: {{...}}}}, "
                                                    f"got {_format_value(spec)}")]
        try:
            cs = ComponentSpec.model_validate(spec)
        except ValidationError as exc:
            return None, None, pydantic_problems(exc, path, None, ComponentSpec)
    try:
        entry = registry.get(kind, cs.type)
    except RegistryError as exc:
        return None, None, [Problem(f"{path}.type", None, str(exc))]
    model = entry.params_model
    try:
        params = model.model_validate(cs.params)
    except ValidationError as exc:
        return entry, None, pydantic_problems(exc, f"{path}.params", cs.type, model)
    problems = [Problem(f"{path}.params", cs.type, msg) for msg in entry.cls.check_params(params)]
    problems += _walk_slots(registry, params, f"{path}.params")
    cs._validated = params
    cs._entry = entry
    return entry, params, problems


# --------------------------------------------------------------------------- public API


class _StrictLoader(yaml.SafeLoader):
    """YAML's safe loader, but a mapping with a repeated key is an error (YAML 1.2 forbids it; the
    plain loader silently keeps the last value)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, Any] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.get(key)
            except TypeError:  # unhashable key: the base class reports it
                continue
            if first is not None:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (first at line {first.line + 1})", key_node.start_mark)
            seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)


def _yaml_problem(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "?"
    return f"invalid YAML at {where}: {getattr(exc, 'problem', None) or exc}"


def parse_yaml(text: str) -> Any:
    """``yaml.safe_load`` that refuses duplicate keys (raises ``yaml.YAMLError``)."""
    return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass


def parse_overrides(overrides: list[str] | None) -> list[tuple[list[str], Any]]:
    """``a.b.c=VALUE`` strings -> ``(['a','b','c'], value)``; the value is parsed as YAML."""
    out = []
    for item in overrides or []:
        if "=" not in item:
            raise ConfigError([Problem("--set", None, f"expected KEY=VALUE, got {item!r}")])
        key, value = item.split("=", 1)
        parts = [p for p in key.strip().split(".") if p]
        if not parts:
            raise ConfigError([Problem("--set", None, f"empty key in {item!r}")])
        try:
            parsed = parse_yaml(value) if value != "" else ""
        except yaml.constructor.ConstructorError as exc:
            raise ConfigError([Problem(f"--set {key}", None, _yaml_problem(exc))]) from None
        except yaml.YAMLError:
            parsed = value
        out.append((parts, parsed))
    return out


def _list_index(parts: list[str], depth: int, cur: list[Any]) -> int:
    """The index ``parts[depth]`` into the list ``cur`` (reached by ``parts[:depth]``), checked."""
    key, where = ".".join(parts), ".".join(parts[:depth])
    part = parts[depth]
    if not part.lstrip("-").isdigit():
        raise ConfigError([Problem(f"--set {key}", None, f"{where} is a list: expected an index 0..{len(cur) - 1}, "
                                                         f"got {part!r}")])
    index = int(part)
    if not -len(cur) <= index < len(cur):
        raise ConfigError([Problem(f"--set {key}", None, f"index {index} is out of range: {where} has "
                                                         f"{len(cur)} item{'s' if len(cur) != 1 else ''}")])
    return index


def apply_overrides(raw: dict[str, Any], overrides: list[str] | None) -> dict[str, Any]:
    """``raw`` with ``--set`` overrides applied (a copy); a missing mapping level is created, a list
    index must exist."""
    raw = copy.deepcopy(raw)
    for parts, value in parse_overrides(overrides):
        cur: Any = raw
        for depth, part in enumerate(parts[:-1]):
            if isinstance(cur, list):
                cur = cur[_list_index(parts, depth, cur)]
                continue
            if part not in cur or not isinstance(cur[part], (dict, list)):
                cur[part] = {}
            cur = cur[part]
        if isinstance(cur, list):
            cur[_list_index(parts, len(parts) - 1, cur)] = value
        else:
            cur[parts[-1]] = value
    return raw


def read_yaml(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    if not p.is_file():
        raise ConfigError([Problem(str(p), None, "config file not found")])
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise ConfigError([Problem(str(p), None, f"cannot read the config: {exc.strerror or exc}")]) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise ConfigError([Problem(str(p), None, f"not UTF-8 text: byte 0x{raw[exc.start]:02x} at line {line} "
                                                 f"(offset {exc.start}); save the config as UTF-8")]) from None
    try:
        data = parse_yaml(text)
    except yaml.YAMLError as exc:
        raise ConfigError([Problem(str(p), None, _yaml_problem(exc))]) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError([Problem(str(p), None, "the top level of a run config must be a mapping")])
    return data


def validate_config(raw: dict[str, Any], registry: Any = None, source: str | None = None) -> RunConfig:
    """Validate a raw config dict against the installed components; raises :class:`ConfigError`."""
    from ganedit.registry import RegistryError, load_registry

    registry = registry or load_registry()
    problems: list[Problem] = []
    common = {k: v for k, v in raw.items() if k in COMMON_KEYS}
    body = {k: v for k, v in raw.items() if k not in COMMON_KEYS}
    if "task" not in common:
        problems.append(Problem("task", None, "required key is missing (the task to run, e.g. 'invert')"))
        raise ConfigError(problems)
    try:
        head = RunConfig.model_validate(common)
    except ValidationError as exc:
        raise ConfigError(pydantic_problems(exc, "", None, RunConfig)) from None
    try:
        entry = registry.get("task", head.task)
    except RegistryError as exc:
        raise ConfigError([Problem("task", None, str(exc))]) from None
    model = entry.params_model
    try:
        params = model.model_validate(body)
    except ValidationError as exc:
        raise ConfigError(with_downloads(pydantic_problems(exc, "", head.task, model), head.downloads)) from None
    problems += [Problem("config", head.task, msg) for msg in entry.cls.check_params(params)]
    problems += _walk_slots(registry, params, "")
    if not problems:
        problems += [Problem(p, head.task, m) for p, m in entry.cls.check_compatibility(params, registry)]
    if problems:
        raise ConfigError(with_downloads(problems, head.downloads))
    head.params = params
    head.source = source
    return head


def with_downloads(problems: list[Problem], downloads: dict[str, str]) -> list[Problem]:
    """'not found' problems of a path under a ``downloads`` entry, with where to get it appended."""
    keys = sorted(downloads, key=len, reverse=True)  # the most specific entry wins
    out = []
    for p in problems:
        # (a component's own message may already say where to download the file)
        key = next((k for k in keys if "not found" in p.message and "download" not in p.message.lower()
                    and k.rstrip("/") in p.message), None)
        out.append(Problem(p.path, p.component, f"{p.message}; get it: {downloads[key]}") if key else p)
    return out


def load_config(path: str | Path, overrides: list[str] | None = None, registry: Any = None) -> RunConfig:
    """Read, override and validate a YAML run config."""
    raw = apply_overrides(read_yaml(path), overrides)
    return validate_config(raw, registry=registry, source=str(path))


def Slot(kind: str) -> Any:  # noqa: N802 - used as a type
    """Type of a component slot: ``generator: Slot('generator')`` in a Params model."""
    return Annotated[ComponentSpec, Kind(kind)]


def SlotList(kind: str) -> Any:  # noqa: N802
    """Type of a list of component slots: ``editors: SlotList('editor') = []``."""
    return Annotated[list[ComponentSpec], Kind(kind)]


# --------------------------------------------------------------------------- checks shared by tasks


def missing_paths(params: BaseModel, *names: str) -> list[str]:
    """``check_params`` problems for list-of-path fields whose plain entries (not globs) do not exist."""
    problems = []
    for name in names:
        for p in getattr(params, name) or []:
            if not any(ch in str(p) for ch in "*?[") and not Path(p).exists():
                problems.append(f"{name}: file or folder not found: {str(p)!r}")
    return problems


def latent_space_problems(params: BaseModel, space: str, task: str) -> list[tuple[str, str]]:
    """``check_compatibility`` problems of a task that works in one latent ``space``: its ``encoder``
    slot must encode into it, its ``generator`` accept it and each of its ``editors`` edit it."""
    out = []
    enc = getattr(params, "encoder", None)
    if enc is not None:
        got = enc.cls.output_space(enc.validated)
        if got != space:
            out.append(("encoder", f"{enc.type!r} encodes into {got!r}; {task} needs {space!r}"))
    gen = getattr(params, "generator", None)
    if gen is not None and space not in gen.cls.latent_spaces(gen.validated):
        out.append(("generator", f"{gen.type!r} does not accept {space!r} latents"))
    for i, ed in enumerate(getattr(params, "editors", None) or []):
        if space not in ed.cls.supported_spaces(ed.validated):
            out.append((f"editors.{i}", f"editor {ed.type!r} does not edit {space!r} latents"))
    return out


__all__ = [
    "Annotated",
    "ComponentSpec",
    "Slot",
    "SlotList",
    "ConfigError",
    "Kind",
    "Problem",
    "RunConfig",
    "apply_overrides",
    "component_slots",
    "latent_space_problems",
    "load_config",
    "missing_paths",
    "read_yaml",
    "validate_component",
    "validate_config",
]
