"""Load plain ``pickle`` files that contain torch modules without executing anything from them.

``pickle.load`` runs whatever callables the stream names (``os.system``, ``builtins.exec``, the
source text that NVIDIA's ``torch_utils.persistence`` embeds and ``exec``s, ...). This module's
:class:`RestrictedUnpickler` resolves only a fixed allowlist of globals, and most of those to
*inert stand-ins* that merely record what the stream asked for:

* containers: ``collections.OrderedDict``, ``builtins.set``/``frozenset``/``complex``/``bytearray``,
  ``_codecs.encode`` (protocol-2 bytes), ``copyreg._reconstructor`` (protocol 0/1, records only);
* tensors: ``torch._utils._rebuild_tensor_v2``/``_rebuild_parameter``/``_rebuild_parameter_with_state``,
  ``torch._tensor._rebuild_from_type_v2`` and ``torch.storage._load_from_bytes`` (each storage is an
  embedded ``torch.save`` blob, read with ``torch.load(..., weights_only=True)``); ``torch.Size``,
  ``torch.device`` and dtypes such as ``torch.float32``. Parameters come back as plain tensors.
* numpy: ``dtype``, ``ndarray``, ``scalar``, ``_reconstruct`` (and protocol 5's ``numeric._frombuffer``)
  under both ``numpy.core.*`` (numpy 1.x writers) and ``numpy._core.*`` (numpy 2.x writers), for
  simple dtypes only; numpy scalars come back as Python numbers;
* whole modules: NVIDIA's ``torch_utils.persistence._reconstruct_persistent_obj`` and pickled
  ``torch.nn.modules.*`` objects become :class:`ModuleRecord` objects (class name, ``__dict__``
  state, parameters, buffers, children; ``module_src`` is dropped unread), ``dnnlib.util.EasyDict``
  becomes :class:`EasyDict` (a plain ``dict`` subclass).

Everything else raises :class:`~ganedit.io.checkpoint.CheckpointError` naming the file and the global.
Nothing here knows about any particular network; callers interpret the records.
"""

from __future__ import annotations

import collections
import copy
import functools
import io
import os
import pickle
import re
import types
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterator, Mapping

import numpy as np
import torch

from ganedit.io.checkpoint import CheckpointError

__all__ = [
    "EasyDict",
    "ModuleRecord",
    "RestrictedUnpickler",
    "RefusedGlobal",
    "is_pickle_file",
    "restricted_load",
    "restricted_loads",
]


class RefusedGlobal(pickle.UnpicklingError):
    """The stream references a global that is not on the allowlist (nothing was imported or run)."""

    def __init__(self, module: str, name: str, why: str = "not allowed"):
        super().__init__(f"global {module}.{name} is {why}")
        self.module = module
        self.name = name


# --------------------------------------------------------------------------------------------
# Inert stand-ins
# --------------------------------------------------------------------------------------------


class _Sealed(type):
    """Metaclass forbidding attribute assignment on the class itself (a pickle BUILD on a global)."""

    def __setattr__(cls, name: str, value: Any) -> None:
        raise AttributeError(f"{cls.__name__} is sealed")

    def __delattr__(cls, name: str) -> None:
        raise AttributeError(f"{cls.__name__} is sealed")


class EasyDict(dict, metaclass=_Sealed):
    """Stand-in for ``dnnlib.util.EasyDict``: a dict whose keys can also be read as attributes."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


class ModuleRecord(metaclass=_Sealed):
    """What a pickled module contained, without the module's code.

    ``class_name`` is the class that would have been rebuilt, ``origin`` where it would have come
    from (``'torch_utils.persistence'`` for NVIDIA persistent objects, else the pickled module
    path). ``state`` is the object's ``__dict__`` as stored (for ``nn.Module``: ``_parameters``,
    ``_buffers``, ``_modules``, the constructor's plain attributes, ...).
    """

    origin: str = "unknown"
    class_name: str = "?"

    def __new__(cls, *args: Any, **kwargs: Any) -> "ModuleRecord":
        # Pickle's NEWOBJ calls __new__ without __init__; set every field here.
        self = super().__new__(cls)
        self.args = args  # what a REDUCE/NEWOBJ passed to the class (recorded, never used)
        self.kwargs = kwargs
        self.state: dict[str, Any] = {}
        self.meta: dict[str, Any] = {}
        return self

    def __init__(self, *args: Any, **kwargs: Any):
        pass

    def __setstate__(self, state: Any) -> None:
        # Pickle's BUILD for plain objects; a (dict, slots) pair is also legal.
        if isinstance(state, tuple) and len(state) == 2:
            state = {**(state[0] or {}), **(state[1] or {})}
        if not isinstance(state, dict):
            raise pickle.UnpicklingError(f"{self.class_name}: unsupported object state {type(state).__name__}")
        self.state = dict(state)

    # -- nn.Module views ----------------------------------------------------------------------
    @property
    def parameters(self) -> dict[str, torch.Tensor]:
        """Own parameters (``None`` entries, e.g. ``bias=False``, are left out)."""
        return {k: v for k, v in (self.state.get("_parameters") or {}).items() if v is not None}

    @property
    def buffers(self) -> dict[str, torch.Tensor]:
        """Own persistent buffers (those ``state_dict()`` would save)."""
        skip = self.state.get("_non_persistent_buffers_set") or set()
        return {k: v for k, v in (self.state.get("_buffers") or {}).items() if v is not None and k not in skip}

    @property
    def children(self) -> dict[str, "ModuleRecord"]:
        return {k: v for k, v in (self.state.get("_modules") or {}).items() if v is not None}

    @property
    def attrs(self) -> dict[str, Any]:
        """Public plain attributes (``conv_clamp``, ``resolution``, ``use_fp16``, ...)."""
        return {k: v for k, v in self.state.items() if not k.startswith("_") and k != "training"}

    @property
    def init_args(self) -> tuple:
        return tuple(self.state.get("_init_args") or ())

    @property
    def init_kwargs(self) -> dict[str, Any]:
        return dict(self.state.get("_init_kwargs") or {})

    def named_records(self, prefix: str = "") -> Iterator[tuple[str, "ModuleRecord"]]:
        """``(dotted name, record)`` for this record and every descendant, in module order."""
        yield prefix.rstrip("."), self
        for name, child in self.children.items():
            if isinstance(child, ModuleRecord):
                yield from child.named_records(f"{prefix}{name}.")

    def state_dict(self, prefix: str = "") -> "collections.OrderedDict[str, torch.Tensor]":
        """Flattened parameters and persistent buffers in ``nn.Module.state_dict()`` order."""
        out: collections.OrderedDict[str, torch.Tensor] = collections.OrderedDict()
        self._collect(prefix, out)
        return out

    def _collect(self, prefix: str, out: dict) -> None:
        for k, v in self.parameters.items():
            out[prefix + k] = v
        for k, v in self.buffers.items():
            out[prefix + k] = v
        for name, child in self.children.items():
            if isinstance(child, ModuleRecord):
                child._collect(f"{prefix}{name}.", out)

    def submodule(self, path: str) -> "ModuleRecord":
        """The descendant at dotted ``path`` (``''`` is this record); ``KeyError`` if absent."""
        rec: ModuleRecord = self
        for part in filter(None, path.split(".")):
            child = rec.children.get(part)
            if not isinstance(child, ModuleRecord):
                raise KeyError(path)
            rec = child
        return rec

    def __repr__(self) -> str:
        return f"<ModuleRecord {self.origin}:{self.class_name} children={list(self.children)}>"


def _reconstruct_persistent_obj(meta: Any) -> ModuleRecord:
    """Stand-in for ``torch_utils.persistence._reconstruct_persistent_obj``: record, never exec."""
    if not isinstance(meta, dict) or meta.get("type") != "class" or not isinstance(meta.get("class_name"), str):
        raise pickle.UnpicklingError("malformed torch_utils.persistence record "
                                     "(expected a dict with type='class' and a class_name)")
    rec = ModuleRecord()
    rec.origin = "torch_utils.persistence"
    rec.class_name = meta["class_name"]
    # module_src (the defining file's source text) is deliberately dropped unread.
    rec.meta = {k: v for k, v in meta.items() if k not in ("module_src", "state")}
    state = meta.get("state")
    if state is not None:
        rec.__setstate__(state)
    return rec


def _record_class(module: str, name: str) -> type[ModuleRecord]:
    """A ``ModuleRecord`` subclass standing in for class ``module.name``."""
    return type(name, (ModuleRecord,), {"origin": module, "class_name": name, "__module__": __name__})


def _copyreg_reconstructor(cls: Any, base: Any, state: Any) -> Any:
    # Protocol 0/1 object creation; only our own record classes may be instantiated.
    if not (isinstance(cls, type) and issubclass(cls, ModuleRecord)) or state is not None:
        raise pickle.UnpicklingError("copyreg._reconstructor is only allowed for module records")
    return cls.__new__(cls)


def _codecs_encode(text: Any, encoding: str = "utf-8") -> bytes:
    # Protocol 2 spells bytes objects as _codecs.encode(str, 'latin1').
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1", "utf-8", "utf8"):
        raise pickle.UnpicklingError("_codecs.encode is only allowed for str -> bytes")
    return text.encode(encoding)


# -- torch --------------------------------------------------------------------------------------


def _load_storage_bytes(blob: Any) -> Any:
    """Stand-in for ``torch.storage._load_from_bytes``: the same blob, read with ``weights_only``."""
    if not isinstance(blob, (bytes, bytearray)):
        raise pickle.UnpicklingError("torch.storage._load_from_bytes expects bytes")
    try:
        storage = torch.load(io.BytesIO(bytes(blob)), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise pickle.UnpicklingError(f"embedded torch storage refused: {str(exc).splitlines()[0]}") from None
    if not isinstance(storage, (torch.TypedStorage, torch.UntypedStorage)):
        raise pickle.UnpicklingError(f"embedded torch blob holds a {type(storage).__name__}, expected a storage")
    return storage


def _rebuild_tensor_v2(storage: Any, storage_offset: Any, size: Any, stride: Any, requires_grad: Any = False,
                       backward_hooks: Any = None, metadata: Any = None) -> torch.Tensor:
    if not isinstance(storage, (torch.TypedStorage, torch.UntypedStorage)):
        raise pickle.UnpicklingError("_rebuild_tensor_v2: first argument is not a storage")
    if not (isinstance(storage_offset, int) and all(isinstance(v, int) for v in (*size, *stride))):
        raise pickle.UnpicklingError("_rebuild_tensor_v2: offset/size/stride must be integers")
    if backward_hooks:
        raise pickle.UnpicklingError("_rebuild_tensor_v2: tensors with backward hooks are not supported")
    # Same construction torch uses (``set_`` checks the bounds against the storage).
    return torch._utils._rebuild_tensor_v2(storage, storage_offset, tuple(size), tuple(stride), False,
                                           collections.OrderedDict())


def _rebuild_parameter(data: Any, requires_grad: Any = False, backward_hooks: Any = None, *state: Any) -> torch.Tensor:
    if not isinstance(data, torch.Tensor):
        raise pickle.UnpicklingError("_rebuild_parameter: data is not a tensor")
    if backward_hooks:
        raise pickle.UnpicklingError("_rebuild_parameter: parameters with backward hooks are not supported")
    return data.detach()  # a plain tensor; whether it was a parameter is known from _parameters


class _TensorType:
    """Marker for ``torch.Tensor`` / ``torch.nn.Parameter`` as an argument of ``_rebuild_from_type_v2``."""

    def __init__(self, name: str):
        self.name = name


def _rebuild_from_type_v2(func: Any, new_type: Any, args: Any, state: Any) -> torch.Tensor:
    inner = getattr(func, "func", func)  # the unpickler hands out functools.partial wrappers
    if inner not in (_rebuild_tensor_v2, _rebuild_parameter) or not isinstance(new_type, _TensorType):
        raise pickle.UnpicklingError("_rebuild_from_type_v2: only plain tensors/parameters are supported")
    return func(*args)


def _torch_global(name: str) -> Any:
    if name in ("Size", "device"):
        return getattr(torch, name)
    value = getattr(torch, name, None) if re.fullmatch(r"[a-z0-9_]+", name) else None
    if isinstance(value, torch.dtype):
        return value
    raise RefusedGlobal("torch", name)


# -- numpy --------------------------------------------------------------------------------------

# Fixed-layout, code-free dtypes: bool, ints, floats, complex, fixed-width bytes/str, object.
_SIMPLE_DTYPE = re.compile(r"[?bBhHiIlLqQefdgFDG]|b1|[iu][1248]|f[248]|c(8|16)|[SU]\d+|O[48]?")


class _NumpyArrayType:
    """Marker for ``numpy.ndarray`` as the first argument of ``_reconstruct``."""


class _DTypeSpec(metaclass=_Sealed):
    """Stand-in for ``numpy.dtype(code, align, copy)`` + BUILD(state); turned into a real dtype lazily."""

    def __init__(self, code: Any, align: Any = False, copy: Any = False):
        if not isinstance(code, str) or not _SIMPLE_DTYPE.fullmatch(code):
            raise pickle.UnpicklingError(f"numpy dtype {code!r} is not a simple dtype")
        self.code = code
        self.byteorder = "="

    def __setstate__(self, state: Any) -> None:
        # (version, byteorder, subarray, names, fields, elsize, alignment, flags[, metadata])
        if not isinstance(state, tuple) or len(state) < 8 or any(state[i] is not None for i in (2, 3, 4)):
            raise pickle.UnpicklingError("numpy dtype state is not a simple dtype")
        if state[1] not in ("<", ">", "|", "="):
            raise pickle.UnpicklingError(f"numpy dtype byte order {state[1]!r} is invalid")
        self.byteorder = state[1]

    def to_numpy(self) -> np.dtype:
        dt = np.dtype(self.code)
        if self.byteorder in ("<", ">"):
            dt = dt.newbyteorder(self.byteorder)
        return dt


def _numpy_scalar(dtype: Any, data: Any = None) -> Any:
    if not isinstance(dtype, _DTypeSpec):
        raise pickle.UnpicklingError("numpy scalar: dtype is not a numpy dtype")
    dt = dtype.to_numpy()
    if dt.kind == "O":
        return data
    if not isinstance(data, (bytes, bytearray)) or len(data) != dt.itemsize:
        raise pickle.UnpicklingError(f"numpy scalar: expected {dt.itemsize} raw bytes for dtype {dt}")
    return np.frombuffer(bytes(data), dtype=dt)[0].item()


class _PickledArray(np.ndarray):
    """ndarray rebuilt from (shape, dtype, raw bytes) only; object arrays take the already-unpickled list."""

    def __setstate__(self, state: Any) -> None:
        if not isinstance(state, tuple) or len(state) != 5 or not isinstance(state[2], _DTypeSpec):
            raise pickle.UnpicklingError("numpy array state is malformed")
        version, shape, dtype, fortran, raw = state
        if not isinstance(shape, tuple) or not all(isinstance(s, int) and s >= 0 for s in shape):
            raise pickle.UnpicklingError("numpy array shape is malformed")
        dt = dtype.to_numpy()
        if dt.kind == "O" and not isinstance(raw, list):
            raise pickle.UnpicklingError("numpy object array without a list of items")
        if dt.kind != "O" and not isinstance(raw, (bytes, bytearray)):
            raise pickle.UnpicklingError("numpy array data is not raw bytes")
        super().__setstate__((version, shape, dt, bool(fortran), raw))


def _numpy_reconstruct(cls: Any, shape: Any, dtype_code: Any) -> np.ndarray:
    if not isinstance(cls, _NumpyArrayType):
        raise pickle.UnpicklingError("numpy _reconstruct is only allowed for numpy.ndarray")
    return np.ndarray.__new__(_PickledArray, (0,), np.uint8)


def _numpy_frombuffer(buf: Any, dtype: Any, shape: Any, order: Any) -> np.ndarray:
    # Protocol 5 spells arrays as _frombuffer(raw buffer, dtype, shape, order).
    if not isinstance(buf, (bytes, bytearray)) or not isinstance(dtype, _DTypeSpec) or order not in ("C", "F"):
        raise pickle.UnpicklingError("numpy _frombuffer: expected (bytes, dtype, shape, 'C'|'F')")
    dt = dtype.to_numpy()
    if dt.kind == "O":
        raise pickle.UnpicklingError("numpy _frombuffer: object arrays cannot come from a raw buffer")
    if not isinstance(shape, tuple) or not all(isinstance(v, int) and v >= 0 for v in shape):
        raise pickle.UnpicklingError("numpy _frombuffer: shape is malformed")
    return np.frombuffer(bytes(buf), dtype=dt).reshape(shape, order=order).copy(order=order)


# --------------------------------------------------------------------------------------------
# The allowlist
# --------------------------------------------------------------------------------------------

_NDARRAY = _NumpyArrayType()

ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("builtins", "complex"): complex,
    ("builtins", "bytearray"): bytearray,
    ("_codecs", "encode"): _codecs_encode,
    ("copyreg", "_reconstructor"): _copyreg_reconstructor,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("torch._tensor", "_rebuild_from_type_v2"): _rebuild_from_type_v2,
    ("torch", "Tensor"): _TensorType("Tensor"),
    ("torch._tensor", "Tensor"): _TensorType("Tensor"),
    ("torch.nn.parameter", "Parameter"): _TensorType("Parameter"),
    ("torch.storage", "_load_from_bytes"): _load_storage_bytes,
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): _reconstruct_persistent_obj,
    ("dnnlib.util", "EasyDict"): EasyDict,
    ("dnnlib", "EasyDict"): EasyDict,
}
for _np_mod in ("numpy.core.multiarray", "numpy._core.multiarray"):
    ALLOWED_GLOBALS[(_np_mod, "scalar")] = _numpy_scalar
    ALLOWED_GLOBALS[(_np_mod, "_reconstruct")] = _numpy_reconstruct
for _np_mod in ("numpy.core.numeric", "numpy._core.numeric"):
    ALLOWED_GLOBALS[(_np_mod, "_frombuffer")] = _numpy_frombuffer
for _np_mod in ("numpy", "numpy.core.multiarray", "numpy._core.multiarray"):
    ALLOWED_GLOBALS[(_np_mod, "dtype")] = _DTypeSpec
    ALLOWED_GLOBALS[(_np_mod, "ndarray")] = _NDARRAY

# Python 2 spellings that protocol 0-2 writers may use.
_MODULE_ALIASES = {"__builtin__": "builtins", "copy_reg": "copyreg"}
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _private_copy(obj: Any) -> Any:
    """A per-load handle on an allowed global.

    A stream can BUILD (set attributes) on any object it references, globals included; handing out
    fresh wrappers keeps such edits away from this module's shared functions. Builtin and torch
    types/dtypes are immutable, and so are this module's stand-in classes (metaclass ``_Sealed``).
    """
    if isinstance(obj, types.FunctionType):
        return functools.partial(obj)
    if isinstance(obj, (_TensorType, _NumpyArrayType)):
        return copy.copy(obj)
    return obj  # our stand-in classes are _Sealed


class RestrictedUnpickler(pickle.Unpickler):
    """``pickle.Unpickler`` that resolves only :data:`ALLOWED_GLOBALS` (plus ``extra``).

    ``torch.nn.modules.*`` classes become inert :class:`ModuleRecord` subclasses. Persistent ids
    (``PERSID``) are refused unless ``persistent_load`` is given. Any other global raises
    :class:`RefusedGlobal` before anything is imported.
    """

    def __init__(self, file: BinaryIO, *, extra: Mapping[tuple[str, str], Any] | None = None,
                 persistent_load: Callable[[Any], Any] | None = None):
        super().__init__(file)
        self._allowed = {**ALLOWED_GLOBALS, **(extra or {})}
        self._persistent_load = persistent_load
        self._resolved: dict[tuple[str, str], Any] = {}

    def find_class(self, module: str, name: str) -> Any:
        module = _MODULE_ALIASES.get(module, module)
        key = (module, name)
        if key not in self._resolved:
            if key in self._allowed:
                self._resolved[key] = _private_copy(self._allowed[key])
            elif module == "torch":
                self._resolved[key] = _torch_global(name)
            elif module.startswith("torch.nn.modules.") and _IDENT.fullmatch(name):
                self._resolved[key] = _record_class(module, name)
            else:
                raise RefusedGlobal(module, name)
        return self._resolved[key]

    def persistent_load(self, pid: Any) -> Any:
        if self._persistent_load is None:
            raise pickle.UnpicklingError(f"persistent id {str(pid)[:80]!r} is not supported in a plain pickle")
        return self._persistent_load(pid)


def is_pickle_file(path: str | os.PathLike) -> bool:
    """True when ``path`` starts like a binary pickle (protocol 2-5 ``PROTO`` opcode)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(2)
    except OSError:
        return False
    return len(head) == 2 and head[0] == 0x80 and 2 <= head[1] <= 5


def restricted_loads(data: bytes, *, source: str = "<bytes>", **kwargs: Any) -> Any:
    """:func:`restricted_load` for bytes; ``source`` names the data in error messages."""
    return _load(io.BytesIO(data), source, **kwargs)


def restricted_load(path: str | os.PathLike, **kwargs: Any) -> Any:
    """Unpickle ``path`` with :class:`RestrictedUnpickler`; every failure is a ``CheckpointError``.

    ``kwargs`` go to the unpickler (``extra`` globals, ``persistent_load``).
    """
    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"{p}: pickle file not found")
    with open(p, "rb") as fh:
        head = fh.read(2)
        if not (len(head) == 2 and head[0] == 0x80 and 2 <= head[1] <= 5):
            raise CheckpointError(f"{p}: not a pickle file (expected a binary pickle, protocol 2-5, "
                                  f"starting with 0x80; got {head!r})")
        fh.seek(0)
        return _load(fh, str(p), **kwargs)


def _load(fh: BinaryIO, source: str, **kwargs: Any) -> Any:
    try:
        return RestrictedUnpickler(fh, **kwargs).load()
    except RefusedGlobal as exc:
        raise CheckpointError(f"{source}: refused to unpickle: {exc} (only tensors, containers, numpy "
                              f"scalars/arrays and module records are allowed; nothing was executed)") from None
    except EOFError:
        raise CheckpointError(f"{source}: truncated pickle (unexpected end of data)") from None
    except CheckpointError:
        raise
    except Exception as exc:  # noqa: BLE001  -- any malformed stream is one kind of error for callers
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "truncated" in msg:
            raise CheckpointError(f"{source}: truncated pickle ({msg})") from None
        raise CheckpointError(f"{source}: corrupt or unsupported pickle ({type(exc).__name__}: {msg})") from None
