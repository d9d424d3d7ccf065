"""Run configs: YAML -> validated pydantic models, with one-line errors naming the path.

A run config names a ``task`` plus the task's own fields. Component slots are written as
``{type: NAME, params: {...}}``. One pydantic validation, with the registry in its validation
context, checks everything before any weights load: each :class:`ComponentSpec` looks its ``type``
up in the registry and validates its ``params`` with that component's ``Params`` model (nested
slots included), then the component's ``check_params`` and the task's ``check_compatibility`` run.
A validated spec holds the typed params; :meth:`RunConfig.resolved` is pydantic's ``model_dump``.
"""

from __future__ import annotations

import copy
import difflib
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, ValidationInfo, field_validator
from pydantic import model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from ganedit.errors import GanEditError
from ganedit.registry import Registry, RegistryError, load_registry

#: Error types of the checks ganedit adds to pydantic's (see :func:`problems_of`).
UNKNOWN_COMPONENT = "unknown_component"
CHECK = "component_check"
COMPATIBILITY = "compatibility"


def _context_registry(info: ValidationInfo) -> Registry | None:
    return info.context.get("registry") if isinstance(info.context, dict) else None


def _registry(info: ValidationInfo) -> Registry:
    """The registry of the validation context (the process-wide one when validated without)."""
    reg = _context_registry(info)
    return reg if reg is not None else load_registry()


def _known(info: ValidationInfo, kind: str, name: str) -> None:
    """An unknown component name as a pydantic error (with the registry's did-you-mean)."""
    try:
        _registry(info).get(kind, name)
    except RegistryError as exc:
        raise PydanticCustomError(UNKNOWN_COMPONENT, "{message}", {"message": str(exc)}) from None


SHALLOW = "shallow"  # validation-context flag: component slots are read as plain {type, params}


def _validate_params(entry: Any, value: Any, info: ValidationInfo) -> Any:
    """``value`` validated by ``entry``'s ``Params`` model, then the component's ``check_params``.

    When only nested component slots fail, ``check_params`` still runs (on a shallow read that
    leaves those slots unvalidated), so that every problem of a config is reported at once.
    """
    model = entry.params_model
    if isinstance(value, model):
        params = value
    else:
        try:
            params = model.model_validate(value if value is not None else {}, context=info.context)
        except ValidationError as exc:
            errors = exc.errors()
            if any(not _in_slot(model, tuple(e["loc"])) for e in errors):
                raise
            try:
                shallow = model.model_validate(value, context={**(info.context or {}), SHALLOW: True})
            except ValidationError:
                raise exc from None
            checks = list(entry.cls.check_params(shallow))
            raise ValidationError.from_exception_data("ganedit", [_init_details(e) for e in errors] + [
                InitErrorDetails(type=PydanticCustomError(CHECK, "{message}", {"message": m}), loc=(), input=value)
                for m in checks]) from None
    _raise(list(entry.cls.check_params(params)), CHECK, value)
    return params


def _in_slot(model: type[BaseModel], loc: tuple) -> bool:
    """Whether ``loc`` (in ``model``) lies inside a component slot's ``type`` or ``params``."""
    cur: Any = model
    for i, part in enumerate(loc):
        if isinstance(part, int):
            continue
        if isinstance(cur, type) and issubclass(cur, ComponentSpec):
            return part in ("type", "params") and i < len(loc)
        if not (isinstance(cur, type) and issubclass(cur, BaseModel)) or part not in cur.model_fields:
            return False
        cur = _unwrap_model(cur.model_fields[part].annotation)
    return False


def _init_details(err: Any) -> InitErrorDetails:
    """A reported pydantic error as raisable details again (same type, message, place and input)."""
    message = (err.get("ctx") or {}).get("message", err.get("msg", "")) if err["type"] in (
        UNKNOWN_COMPONENT, CHECK, COMPATIBILITY) else err.get("msg", "")
    return InitErrorDetails(type=PydanticCustomError(err["type"], "{message}", {"message": message}),
                            loc=tuple(err["loc"]), input=err.get("input"))


def _raise(problems: list[str], error_type: str, value: Any, locs: list[tuple] | None = None) -> None:
    """Raise one pydantic error per message (pydantic merges them into the enclosing validation)."""
    if not problems:
        return
    errors = [InitErrorDetails(type=PydanticCustomError(error_type, "{message}", {"message": msg}),
                               loc=(locs[i] if locs else ()), input=value)
              for i, msg in enumerate(problems)]
    raise ValidationError.from_exception_data("ganedit", errors)


class ComponentSpec(BaseModel):
    """``{type: NAME, params: {...}}``; ``NAME`` may be qualified as ``dist:name``.

    Validation looks ``type`` up among the components of the spec's ``kind`` (each slot has its own
    subclass, see :func:`Slot`) and turns ``params`` into that component's typed ``Params``.
    """

    model_config = ConfigDict(extra="forbid", validate_default=True)

    kind: ClassVar[str] = ""
    type: str = Field(description="registered component name (or dist:name)")
    params: Any = Field(default_factory=dict, description="the component's parameters")
    _entry: Any = PrivateAttr(default=None)

    @classmethod
    def of(cls, kind: str) -> type["ComponentSpec"]:
        """The spec class of slots of ``kind`` (one per kind, cached)."""
        found = _SPEC_CLASSES.get(kind)
        if found is None:
            found = type(f"{kind.title()}Spec", (ComponentSpec,), {"__module__": __name__, "kind": kind,
                                                                   "__doc__": f"A {kind} slot: {{type, params}}."})
            _SPEC_CLASSES[kind] = found
        return found

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str, info: ValidationInfo) -> str:
        if not (info.context or {}).get(SHALLOW):
            _known(info, cls.kind, value)
        return value

    @field_validator("params")
    @classmethod
    def _typed_params(cls, value: Any, info: ValidationInfo) -> Any:
        if "type" not in info.data or (info.context or {}).get(SHALLOW):
            return value  # the unknown type is the error reported
        return _validate_params(_registry(info).get(cls.kind, info.data["type"]), value, info)

    @model_validator(mode="after")
    def _remember_entry(self, info: ValidationInfo) -> "ComponentSpec":
        if not (info.context or {}).get(SHALLOW):
            self._entry = _registry(info).get(self.kind, self.type)
        return self

    @property
    def entry(self) -> Any:
        """The registry entry of ``type``."""
        return self._entry

    @property
    def cls(self) -> type:
        """The component class (``latent_spaces``, ``output_space``, ... for compatibility checks)."""
        return self._entry.cls

    def resolved(self) -> dict[str, Any]:
        """The spec with every default filled in (YAML-ready ``model_dump``)."""
        return plain(self.model_dump())


_SPEC_CLASSES: dict[str, type[ComponentSpec]] = {}


def Slot(kind: str) -> Any:  # noqa: N802 - used as a type
    """Type of a component slot: ``generator: Slot('generator')`` in a Params model."""
    return ComponentSpec.of(kind)


def SlotList(kind: str) -> Any:  # noqa: N802
    """Type of a list of component slots: ``editors: SlotList('editor') = []``."""
    return list[ComponentSpec.of(kind)]  # type: ignore[misc]


def component_slots(model: type[BaseModel]) -> dict[str, str]:
    """Fields of ``model`` holding component specs: ``{field: kind}``."""
    slots = {}
    for name, f in model.model_fields.items():
        spec = _unwrap_model(f.annotation)
        if isinstance(spec, type) and issubclass(spec, ComponentSpec) and spec.kind:
            slots[name] = spec.kind
    return slots


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


COMMON_KEYS = {"task", "seed", "device", "threads", "precision", "channels_last", "compile", "output", "description",
               "downloads"}
#: Largest seed (32 bits, numpy's range): tasks derive seeds from it with offsets and multiples
#: (per image, per process, per training step) that must stay within torch's 64 bits.
MAX_SEED = 2**32 - 1


class RunConfig(BaseModel):
    """A validated run config: the common keys plus the task's params (``params``).

    Validate it with :func:`validate_config` (which splits the YAML's task fields into ``params``
    and puts the registry into the validation context).
    """

    model_config = ConfigDict(extra="forbid")

    task: str
    seed: int = Field(0, ge=0, le=MAX_SEED, description="global random seed")
    device: Literal["auto", "cpu", "cuda"] = "auto"
    threads: int | None = Field(None, ge=1, description="torch CPU threads for this run (default: torch's "
                                                         "choice, usually one per core); on a small shared "
                                                         "machine 1 is often fastest")
    precision: Literal["auto", "fp32", "bf16", "fp16"] = Field(
        "auto", description="numeric precision of the networks (ganedit.accel): auto = the task's default "
                            "(fp32, or bf16 where a trainer documents a matching loss curve and the "
                            "hardware has native bf16)")
    channels_last: bool | None = Field(None, description="channels_last (NHWC) weights and batches; unset: "
                                                         "the task's default (on for CPU training)")
    compile: bool = Field(False, description="torch.compile the networks (falls back to eager with a "
                                             "message where no backend works)")
    output: str | None = None
    description: str = ""
    downloads: dict[str, str] = Field(default_factory=dict, description="files the config needs that ganedit "
                                      "does not ship: {path or folder: where to get it}; 'not found' problems "
                                      "under those paths quote it (not part of resolved())")
    params: Any = Field(None, description="the task's validated Params (the config's other keys)")
    source: str | None = Field(None, exclude=True, description="the file the config was read from")

    @field_validator("task")
    @classmethod
    def _known_task(cls, value: str, info: ValidationInfo) -> str:
        if not value:
            raise ValueError("task must be a registered task name")
        if _context_registry(info) is not None:  # (constructed directly: validate_config checks the name)
            _known(info, "task", value)
        return value

    @field_validator("params")
    @classmethod
    def _task_params(cls, value: Any, info: ValidationInfo) -> Any:
        if "task" not in info.data or _context_registry(info) is None:
            return value
        return _validate_params(_registry(info).get("task", info.data["task"]), value, info)

    @model_validator(mode="after")
    def _compatible(self, info: ValidationInfo) -> "RunConfig":
        if _context_registry(info) is None or self.params is None:
            return self
        entry = _registry(info).get("task", self.task)
        pairs = list(entry.cls.check_compatibility(self.params, _registry(info)))
        _raise([msg for _, msg in pairs], COMPATIBILITY, None,
               [("params", *(int(p) if p.isdigit() else p for p in path.split("."))) for path, _ in pairs])
        return self

    def override(self, **values: Any) -> "RunConfig":
        """A copy with common keys replaced (``device='cpu'``, ``seed=3``), each validated as its field."""
        new = self.model_copy()
        for key, value in values.items():
            try:
                RunConfig.__pydantic_validator__.validate_assignment(new, key, value)
            except ValidationError as exc:
                raise ConfigError(problems_of(exc.errors(), {key: value}, None, RunConfig)) from None
        return new

    def resolved(self) -> dict[str, Any]:
        """Plain dict with all defaults, suitable for ``config.yaml`` (re-validates identically)."""
        out: dict[str, Any] = plain(self.model_dump(include={"task", "seed", "device"}))
        if self.threads is not None:
            out["threads"] = self.threads
        if self.precision != "auto":
            out["precision"] = self.precision
        if self.channels_last is not None:
            out["channels_last"] = self.channels_last
        if self.compile:
            out["compile"] = self.compile
        if self.output is not None:
            out["output"] = self.output
        if self.description:
            out["description"] = self.description
        out.update(plain(self.params.model_dump()))
        return out


# --------------------------------------------------------------------------- helpers


def plain(value: Any) -> Any:
    """``model_dump`` output as YAML-safe values (paths as strings, tuples as lists)."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


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


def _walk(root: type[BaseModel] | None, label: str | None, raw: Any, loc: tuple,
          registry: Registry | None) -> tuple[type[BaseModel] | None, str | None]:
    """The model (for key hints) and component name (for the message) at ``loc``: inside a
    component's ``params`` they are that component's ``Params`` and its ``type``."""
    model: Any = root
    node = raw
    for part in loc:
        if isinstance(part, int):
            node = node[part] if isinstance(node, list) and -len(node) <= part < len(node) else None
            continue
        if isinstance(model, type) and issubclass(model, ComponentSpec):
            if part == "params" and isinstance(node, dict) and registry is not None:
                try:
                    model, label = registry.get(model.kind, str(node.get("type"))).params_model, node.get("type")
                except RegistryError:
                    model = None
            else:
                model = None
        elif isinstance(model, type) and issubclass(model, BaseModel) and part in model.model_fields:
            model = _unwrap_model(model.model_fields[part].annotation)
        else:
            model = None
        node = node.get(part) if isinstance(node, dict) else None
    return model, label


def problems_of(errors: list[Any], raw: Any, registry: Registry | None, root: type[BaseModel] | None = None,
                prefix: str = "", label: str | None = None, task: str | None = None) -> list[Problem]:
    """One :class:`Problem` per pydantic error (of a validation of ``raw`` whose top model is ``root``).

    Paths are dotted (``prefix`` first); the component named is the one whose params hold the
    error (else ``label``); unknown keys get a 'did you mean', missing files say so.
    """
    problems = []
    for err in errors:
        loc = tuple(err.get("loc", ()))
        etype = err.get("type", "")
        parts = [prefix] if prefix else []
        path = ".".join(parts + [str(p) for p in loc]) or prefix or "config"
        model, component = _walk(root, label, raw, loc[:-1], registry)
        _, here = _walk(root, label, raw, loc, registry)
        if etype == UNKNOWN_COMPONENT:
            component = None
        elif etype == COMPATIBILITY:
            component = task
        elif etype == CHECK:
            component = here
        if etype == "extra_forbidden":
            names = list(model.model_fields) if isinstance(model, type) and issubclass(model, BaseModel) else []
            hint = difflib.get_close_matches(str(loc[-1]), names, n=1)
            msg = "unknown key"
            msg += f"; did you mean {hint[0]!r}?" if hint else (f"; valid keys: {', '.join(names)}" if names else "")
        elif etype == "missing":
            msg = "required key is missing"
        elif etype in ("path_not_file", "path_not_exists", "path_not_directory"):
            what = "directory" if etype == "path_not_directory" else "file"
            msg = f"{what} not found: {str(err.get('input'))!r}"
        elif etype == "model_type" and issubclass(_walk_model(root, loc, raw, registry) or BaseModel, ComponentSpec):
            msg = f"expected a mapping {{type: NAME, params: {{...}}}}, got {_format_value(err.get('input'))}"
        elif etype in (UNKNOWN_COMPONENT, CHECK, COMPATIBILITY):
            msg = (err.get("ctx") or {}).get("message", err.get("msg", ""))
        else:
            msg = err.get("msg", "invalid value")
            if "input" in err and etype not in ("model_type", "dict_type"):
                msg += f" (got {_format_value(err['input'])})"
        problems.append(Problem(path, component, msg))
    return problems


def _walk_model(root: Any, loc: tuple, raw: Any, registry: Registry | None) -> Any:
    model, _ = _walk(root, None, raw, loc, registry)
    return model


# --------------------------------------------------------------------------- YAML


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
            if cur.get(part) is None:
                cur[part] = {}
            elif not isinstance(cur[part], (dict, list)):
                where = ".".join(parts[:depth + 1])
                raise ConfigError([Problem(f"--set {'.'.join(parts)}", None, f"{where} is {cur[part]!r} "
                                           f"({type(cur[part]).__name__}), not a mapping or list, so it has no "
                                           f"key {parts[depth + 1]!r}; set it as a whole: --set {where}=VALUE")])
            cur = cur[part]
        if isinstance(cur, list):
            cur[_list_index(parts, len(parts) - 1, cur)] = value
        else:
            cur[parts[-1]] = value
    return raw


def read_yaml(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    if p.is_dir():
        raise ConfigError([Problem(str(p), None, "is a folder, not a config file")])
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


# --------------------------------------------------------------------------- public API


def validate_config(raw: dict[str, Any], registry: Registry | None = None, source: str | None = None) -> RunConfig:
    """Validate a raw config dict against the installed components (one pydantic validation with
    the registry in its context); raises :class:`ConfigError`."""
    registry = registry or load_registry()
    if not isinstance(raw, dict):
        raise ConfigError([Problem("config", None, "the top level of a run config must be a mapping")])
    if "task" not in raw:
        raise ConfigError([Problem("task", None, "required key is missing (the task to run, e.g. 'invert')")])
    split = {k: v for k, v in raw.items() if k in COMMON_KEYS}
    split["params"] = {k: v for k, v in raw.items() if k not in COMMON_KEYS}
    split["source"] = source
    try:
        return RunConfig.model_validate(split, context={"registry": registry})
    except ValidationError as exc:
        task = raw.get("task") if isinstance(raw.get("task"), str) else None
        downloads = raw.get("downloads") if isinstance(raw.get("downloads"), dict) else {}
        try:
            task_model = registry.get("task", task).params_model if task else None
        except RegistryError:
            task_model = None
        # The task's own fields sit at the top level of the YAML: their errors lose the 'params' level.
        errors = exc.errors()
        head = [e for e in errors if not e["loc"] or e["loc"][0] != "params"]
        body = [{**e, "loc": tuple(e["loc"][1:])} for e in errors if e["loc"] and e["loc"][0] == "params"]
        problems = problems_of(head, split, registry, RunConfig)
        problems += problems_of(body, split["params"], registry, task_model, label=task, task=task)
        raise ConfigError(with_downloads(problems, downloads)) from None


def validate_spec(kind: str, spec: Any, registry: Registry | None = None) -> ComponentSpec:
    """A component spec (``{type, params}`` or an already validated one) validated for ``kind``;
    raises :class:`ConfigError` with paths starting at ``kind``."""
    registry = registry or load_registry()
    cls = ComponentSpec.of(kind)
    if isinstance(spec, cls) and spec.entry is not None:
        return spec
    if isinstance(spec, ComponentSpec):
        spec = spec.model_dump()
    try:
        return cls.model_validate(spec, context={"registry": registry})
    except ValidationError as exc:
        raise ConfigError(problems_of(exc.errors(), spec, registry, cls, prefix=kind)) from None


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


def load_config(path: str | Path, overrides: list[str] | None = None, registry: Registry | None = None) -> RunConfig:
    """Read, override and validate a YAML run config."""
    raw = apply_overrides(read_yaml(path), overrides)
    return validate_config(raw, registry=registry, source=str(path))


def config_files(config: RunConfig) -> list[tuple[str, str | None, Path]]:
    """``(config path, component type, file)`` for every existing file a validated config names in a
    path-typed parameter, nested components included (``generator.params.checkpoint``)."""
    found: list[tuple[str, str | None, Path]] = []

    def walk(value: Any, where: str, component: str | None) -> None:
        if isinstance(value, ComponentSpec):
            walk(value.params, f"{where}.params", value.type)
        elif isinstance(value, BaseModel):
            for name in type(value).model_fields:
                walk(getattr(value, name), f"{where}.{name}" if where else name, component)
        elif isinstance(value, (list, tuple)):
            for i, item in enumerate(value):
                walk(item, f"{where}.{i}", component)
        elif isinstance(value, dict):
            for key, item in value.items():
                walk(item, f"{where}.{key}", component)
        elif isinstance(value, Path) and value.is_file():
            found.append((where, component, value))

    walk(config.params, "", None)
    return found


def check_weights(config: RunConfig, registry: Registry | None = None) -> None:
    """Read the weights of every checkpoint a validated config names (any format a plugin reads, without
    building a network) and raise :class:`ConfigError` naming the config path, the file and the
    tensor when one holds NaN or inf (``ganedit validate``; a run refuses them when it loads them)."""
    from ganedit.io.checkpoint import DamagedWeightsError, check_weights_file

    registry = registry or load_registry()
    problems, seen = [], set()
    for where, component, path in config_files(config):
        key = path.resolve()
        if key in seen:
            continue
        seen.add(key)
        try:
            check_weights_file(path, registry)
        except DamagedWeightsError as exc:
            problems.append(Problem(where, component, str(exc)))
    if problems:
        raise ConfigError(problems)


# --------------------------------------------------------------------------- checks shared by tasks


def missing_paths(params: BaseModel, *names: str) -> list[str]:
    """``check_params`` problems for list-of-path fields whose plain entries (not globs) do not exist."""
    problems = []
    for name in names:
        for p in getattr(params, name) or []:
            if not any(ch in str(p) for ch in "*?[") and not Path(p).exists():
                problems.append(f"{name}: file or folder not found: {str(p)!r}")
    return problems


def check_pair(encoder: ComponentSpec, generator: ComponentSpec, made: Any, taken: Any, what: str) -> None:
    """Raise :class:`ConfigError` naming both checkpoints when an ``encoder`` that makes ``what`` =
    ``made`` and a ``generator`` that takes ``taken`` do not work together (typically two
    checkpoints of different models); a task calls it after building both, before any output."""
    if made == taken:
        return

    def origin(spec: ComponentSpec) -> str:
        checkpoint = getattr(spec.params, "checkpoint", None)
        return f"{spec.type} {checkpoint}" if checkpoint else f"{spec.type} (random init)"

    raise ConfigError([Problem("encoder", encoder.type,
                               f"does not work with the generator: encoder {origin(encoder)} makes {what} {made}, "
                               f"generator {origin(generator)} takes {taken}; use an encoder and a generator "
                               f"of one model (the same checkpoint)")])


def latent_space_problems(params: BaseModel, space: str, task: str) -> list[tuple[str, str]]:
    """``check_compatibility`` problems of a task that works in one latent ``space``: its ``encoder``
    slot must encode into it, its ``generator`` accept it and each of its ``editors`` edit it."""
    out = []
    enc = getattr(params, "encoder", None)
    if enc is not None:
        got = enc.cls.output_space(enc.params)
        if got != space:
            out.append(("encoder", f"{enc.type!r} encodes into {got!r}; {task} needs {space!r}"))
    gen = getattr(params, "generator", None)
    if gen is not None and space not in gen.cls.latent_spaces(gen.params):
        out.append(("generator", f"{gen.type!r} does not accept {space!r} latents"))
    for i, ed in enumerate(getattr(params, "editors", None) or []):
        if space not in ed.cls.supported_spaces(ed.params):
            out.append((f"editors.{i}", f"editor {ed.type!r} does not edit {space!r} latents"))
    return out


__all__ = [
    "ComponentSpec",
    "ConfigError",
    "Problem",
    "RunConfig",
    "Slot",
    "SlotList",
    "apply_overrides",
    "check_pair",
    "check_weights",
    "component_slots",
    "config_files",
    "latent_space_problems",
    "load_config",
    "missing_paths",
    "read_yaml",
    "validate_config",
    "validate_spec",
]
