"""Saving and loading the results of Python steps: one serializer per type, chosen when saving.

A call step's return value is saved in its execution folder's ``out/`` as ``result<ext>`` beside
``result.meta.json`` (serializer, type, file, Python and library versions, extra metadata). The value
is written to a temporary file and renamed, and the metadata is written last: a reader never sees half
a result, and a result without its metadata does not exist.

Built in, by type (the most specific registered type first, then these):

=================================  ==========  ==========================================================
``None``                           ``none``    nothing but the metadata
pandas ``DataFrame`` / ``Series``  ``parquet`` needs pyarrow (``runyard[parquet]``); without it, or with column
                                               names that are not text: ``pickle``, with a warning in the log
numpy ``ndarray``                  ``npy``     ``numpy.save`` (object arrays: ``pickle``)
torch ``Tensor`` / ``nn.Module``   ``torch``   ``torch.save``, loaded with ``weights_only=False``
plain JSON data                    ``json``    dicts with text keys, lists, text, numbers, booleans, null
anything else                      ``pickle``  the highest protocol
=================================  ==========  ==========================================================

Register your own with :func:`serializer`. Heavy libraries are imported only for values of their types.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from runyard.errors import ResultError
from runyard.layout import RESULT_META, ExecutionPaths, ResultPaths

TYPE_CHECKING = False  # typing costs ~2 ms to import; mypy treats this name as true
if TYPE_CHECKING:
    from typing import Any

Warn = Callable[[str], None]


@dataclass(frozen=True)
class Serializer:
    """How values of ``types`` are saved (``save(value, path)``, which may return extra metadata) and
    loaded (``load(path)``). ``module``: where it was registered, imported again to load the value."""

    name: str
    types: tuple[type | str, ...]
    save: Callable[[Any, str], Mapping[str, Any] | None]
    load: Callable[..., Any]  # load(path) or load(path, meta)
    ext: str
    meta: Mapping[str, Any] = field(default_factory=dict)
    module: str | None = None
    accepts: Callable[[Any], bool] | None = None


_registered: list[Serializer] = []


def serializer(types: type | str | tuple[type | str, ...], *, save: Callable[[Any, str], Mapping[str, Any] | None],
               load: Callable[..., Any], name: str | None = None, ext: str = ".bin",
               meta: Mapping[str, Any] | None = None,
               accepts: Callable[[Any], bool] | None = None) -> Serializer:
    """Save the results of these types (classes or ``"module.Class"`` names, subclasses included) with your
    own functions: ``save(value, path)`` writes the file (and may return a dict of metadata to record),
    ``load(path)`` reads it back (``load(path, meta)``: also given the metadata recorded when it was saved,
    ``meta`` below merged with what ``save`` returned). ``meta`` is recorded with every value saved;
    ``accepts(value)`` can decline a value (then the next serializer is tried). Register it at import time
    of the module that defines the step function (or the type): that module is imported again to load the
    value. A later registration for the same type wins."""
    kinds = types if isinstance(types, tuple) else (types,)
    if not kinds:
        raise ResultError("runyard.serializer: name at least one type")
    first = kinds[0]
    label = name or (first if isinstance(first, str) else f"{first.__module__}.{first.__qualname__}")
    if label in BUILTIN_NAMES:
        raise ResultError(f"runyard.serializer: {label!r} is the name of a built-in serializer; choose another")
    if not ext.startswith("."):
        ext = "." + ext
    module = getattr(save, "__module__", None)
    found = Serializer(label, kinds, save, load, ext, dict(meta or {}), module, accepts)
    _registered[:] = [s for s in _registered if s.name != label]
    _registered.append(found)
    return found


def _type_name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _matches(kind: type | str, cls: type) -> bool:
    """``kind`` is ``cls``, or names it: ``module.Class``, or ``package.Class`` for a class a package re-exports
    (``pandas.DataFrame`` is ``pandas.core.frame.DataFrame``)."""
    if isinstance(kind, type):
        return kind is cls
    return kind in (_type_name(cls), f"{cls.__module__.partition('.')[0]}.{cls.__qualname__}")


# --- built-in serializers ------------------------------------------------------------------------------
def _json_plain(value: Any, depth: int = 0) -> bool:
    """Whether JSON gives ``value`` back exactly (tuples, sets, int-keyed dicts ... do not survive it)."""
    if depth > 100:
        return False
    if value is None or type(value) in (str, int, float, bool):
        return True
    if type(value) is list:
        return all(_json_plain(v, depth + 1) for v in value)
    if type(value) is dict:
        return all(type(k) is str and _json_plain(v, depth + 1) for k, v in value.items())
    return False


def _save_json(value: Any, path: str) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(value, handle, ensure_ascii=False)


def _load_json(path: str) -> Any:
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def _save_pickle(value: Any, path: str) -> None:
    import pickle

    with open(path, "wb") as handle:
        pickle.dump(value, handle, protocol=pickle.HIGHEST_PROTOCOL)


def _load_pickle(path: str) -> Any:
    import pickle

    with open(path, "rb") as handle:
        return pickle.load(handle)


def _save_parquet(value: Any, path: str) -> dict[str, Any]:
    import pandas as pd

    if isinstance(value, pd.Series):
        value.to_frame(name="value").to_parquet(path)
        return {"series": True, "series_name": value.name}
    value.to_parquet(path)
    return {}


def _load_parquet(path: str) -> Any:
    import pandas as pd

    if not _has_pyarrow():
        from runyard.errors import MissingDependency

        raise MissingDependency("pyarrow", "parquet", "loading a result saved as parquet")
    meta = _read_meta(os.path.dirname(path)).get("meta", {})
    frame = pd.read_parquet(path)
    if meta.get("series"):
        return frame["value"].rename(meta.get("series_name"))
    return frame


def _parquet_ok(value: Any) -> bool:
    if not _has_pyarrow():
        return False
    columns = [value.name] if type(value).__name__ == "Series" else list(value.columns)
    return type(value).__name__ == "Series" or all(isinstance(c, str) for c in columns)


def _save_npy(value: Any, path: str) -> None:
    import numpy as np

    np.save(path, value, allow_pickle=False)


def _load_npy(path: str) -> Any:
    import numpy as np

    return np.load(path, allow_pickle=False)


def _save_torch(value: Any, path: str) -> None:
    import torch

    torch.save(value, path)


def _load_torch(path: str) -> Any:
    import torch

    return torch.load(path, weights_only=False)


NONE = Serializer("none", (type(None),), lambda value, path: None, lambda path: None, "")
JSON = Serializer("json", (), _save_json, _load_json, ".json")
PICKLE = Serializer("pickle", (), _save_pickle, _load_pickle, ".pkl")
PARQUET = Serializer("parquet", ("pandas.DataFrame", "pandas.Series"), _save_parquet,
                     _load_parquet, ".parquet", accepts=_parquet_ok)
NPY = Serializer("npy", ("numpy.ndarray",), _save_npy, _load_npy, ".npy",
                 accepts=lambda value: not value.dtype.hasobject)
TORCH = Serializer("torch", ("torch.Tensor", "torch.nn.modules.module.Module"), _save_torch, _load_torch, ".pt")
BUILTINS = (NONE, JSON, PICKLE, PARQUET, NPY, TORCH)
BUILTIN_NAMES = tuple(s.name for s in BUILTINS)
_LIBRARY = {"parquet": "pandas", "npy": "numpy", "torch": "torch"}


def choose(value: Any, warn: Warn | None = None) -> Serializer:
    """The serializer for ``value``: a registered one for its type (most specific first), else a built-in."""
    if value is None:
        return NONE
    mro = type(value).__mro__
    for cls in mro:
        for found in reversed(_registered):
            if any(_matches(kind, cls) for kind in found.types) and (found.accepts is None or found.accepts(value)):
                return found
    for cls in mro:
        for found in (PARQUET, NPY, TORCH):
            if any(_matches(kind, cls) for kind in found.types):
                if found.accepts is None or found.accepts(value):
                    return found
                if found is PARQUET and warn is not None:
                    reason = ("column names that are not text" if _has_pyarrow() else
                              "pyarrow is not installed (pip install 'runyard[parquet]')")
                    warn(f"saving the {type(value).__name__} with pickle, not parquet: {reason}")
                return PICKLE
    return JSON if _json_plain(value) else PICKLE


def _has_pyarrow() -> bool:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return False
    return True


# --- saving and loading --------------------------------------------------------------------------------
def save_result(value: Any, out: str, *, warn: Warn | None = None, chosen: Serializer | None = None) -> dict[str, Any]:
    """Save ``value`` in folder ``out`` (atomically, metadata last); return the metadata. Raises ResultError."""
    found = chosen or choose(value, warn)
    paths = ResultPaths(out)
    meta_path = paths.meta
    earlier = _earlier_value(paths)
    _remove(meta_path)  # a result of an earlier attempt stops existing before anything new is written
    if earlier:
        _remove(earlier)  # and its value goes with it, whatever the new value's serializer or fate
    final = paths.value(found.ext) if found.ext else None
    tmp = paths.staging(found.ext, os.getpid())
    kind = type(value)
    try:
        extra = found.save(value, tmp) if final else None
        if final:
            if not os.path.isfile(tmp):
                raise ResultError(f"serializer {found.name!r} wrote no file at the path it was given")
            os.replace(tmp, final)
    except Exception as err:
        _remove(tmp)
        if isinstance(err, ResultError):
            raise ResultError(f"could not save the result ({_type_name(kind)}) with serializer "
                              f"{found.name!r}: {err}") from None
        raise ResultError(f"could not save the result ({_type_name(kind)}) with serializer {found.name!r}: "
                          f"{type(err).__name__}: {err}") from err
    meta: dict[str, Any] = {
        "serializer": found.name,
        "type": _type_name(kind),
        "file": os.path.basename(final) if final else None,
        "python": sys.version.split()[0],
        "runyard": _version("runyard"),
        "meta": {**found.meta, **dict(extra or {})},
    }
    library = _LIBRARY.get(found.name)
    if library:
        meta[library] = _version(library)
    if found.module and found.name not in BUILTIN_NAMES:
        meta["module"] = found.module
    tmp_meta = meta_path + f".tmp{os.getpid()}"
    with open(tmp_meta, "w", encoding="utf-8") as handle:
        json.dump(meta, handle, indent=1, default=repr)
        handle.write("\n")
    os.replace(tmp_meta, meta_path)
    return meta


def _earlier_value(paths: ResultPaths) -> str | None:
    """The value file of the result saved in ``paths`` (as its metadata names it), if any."""
    try:
        with open(paths.meta, encoding="utf-8") as handle:
            name = json.load(handle).get("file")
    except (OSError, ValueError, AttributeError):
        return None
    if not isinstance(name, str) or not name or os.path.basename(name) != name:
        return None
    return paths.named(name)


def _remove(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def _version(module: str) -> str | None:
    loaded = sys.modules.get(module)
    version = getattr(loaded, "__version__", None)
    if version:
        return str(version)
    try:
        from importlib.metadata import version as dist_version

        return dist_version(module)
    except Exception:
        return None


def out_folder(folder: str) -> str:
    """An execution folder's ``out/`` (or ``folder`` itself when it is one)."""
    inner = ExecutionPaths(folder).out
    return inner if os.path.isdir(inner) and not os.path.exists(ResultPaths(folder).meta) else folder


def _read_meta(out: str) -> dict[str, Any]:
    path = ResultPaths(out).meta
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except FileNotFoundError:
        raise ResultError(f"no saved result in {out} (no {RESULT_META}): the step did not finish, or it is not a "
                          "Python step") from None
    except (OSError, ValueError) as err:
        raise ResultError(f"cannot read {path}: {err}") from None
    if not isinstance(data, dict):
        raise ResultError(f"{path} is not a result's metadata")
    return data


def has_result(folder: str) -> bool:
    return os.path.isfile(ResultPaths(out_folder(folder)).meta)


def result_meta(folder: str) -> dict[str, Any]:
    return _read_meta(out_folder(folder))


def load_result(folder: str) -> Any:
    """The value a call step saved in ``folder`` (its execution folder or its ``out/``). Raises ResultError."""
    out = out_folder(folder)
    meta = _read_meta(out)
    name = meta.get("serializer")
    found = next((s for s in BUILTINS if s.name == name), None) or _find_registered(str(name), meta.get("module"))
    if found is NONE:
        return None
    path = ResultPaths(out).named(str(meta.get("file")))
    try:
        if _takes_meta(found.load):  # load(path, meta): the metadata recorded when the value was saved
            recorded = meta.get("meta")
            return found.load(path, dict(recorded) if isinstance(recorded, dict) else {})
        return found.load(path)
    except Exception as err:
        raise ResultError(f"could not load {path} with serializer {name!r}: {type(err).__name__}: {err}") from err


def _takes_meta(load: Callable[..., Any]) -> bool:
    """Whether ``load`` takes a second positional argument (the recorded metadata)."""
    import inspect

    try:
        params = list(inspect.signature(load).parameters.values())
    except (TypeError, ValueError):
        return False
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) >= 2 or any(p.kind == p.VAR_POSITIONAL for p in params)


def _find_registered(name: str, module: object) -> Serializer:
    for attempt in range(2):
        for found in reversed(_registered):
            if found.name == name:
                return found
        if attempt == 0 and isinstance(module, str) and module:
            import importlib

            try:
                importlib.import_module(module)
            except Exception as err:
                raise ResultError(f"the result was saved by serializer {name!r} registered in module {module!r}, "
                                  f"which cannot be imported here: {type(err).__name__}: {err}") from None
    where = f" (module {module!r} does not register it)" if module else ""
    raise ResultError(f"no serializer named {name!r} is registered{where}: register it with runyard.serializer "
                      "before loading")
