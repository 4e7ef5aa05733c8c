"""The serializer contract suite: every :class:`~runyard.serializers.Serializer` must pass it.

Use it by subclassing in a test module and providing the serializer under test, sample values of its
types and, when ``==`` does not say whether two of them are equal, how to compare them::

    import runyard
    from runyard.testing.serializer_contract import SerializerContract

    MYMODEL = runyard.serializer(MyModel, save=save_model, load=MyModel.load, name="mymodel", ext=".bin")

    class TestMyModelSerializer(SerializerContract):
        @pytest.fixture
        def serializer(self):
            return MYMODEL

        @pytest.fixture
        def values(self):
            return [MyModel(["a", "b"]), MyModel([])]

        @pytest.fixture
        def same(self):
            return lambda loaded, expected: loaded.layers == expected.layers

Register the serializer at import time of a module (as a step's module does): a result is also loaded in
a fresh Python process, which finds the serializer by importing that module again. ``failing_values``
(optional) are values of the serializer's types that its ``save`` cannot write; every serializer is also
checked with a ``save`` that writes its file and then raises. Everything is saved with
:func:`~runyard.serializers.save_result` into a step's ``out/`` folder under ``tmp_path`` and read back
with :func:`~runyard.serializers.load_result`, as a step and its dependents do.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from runyard.errors import ResultError
from runyard.layout import ExecutionPaths, ResultPaths
from runyard.serializers import BUILTIN_NAMES, Serializer, choose, has_result, load_result, result_meta, save_result
from runyard.version import __version__

__all__ = ["SerializerContract"]

Same = Callable[[Any, Any], bool]

_LIBRARIES = {"parquet": "pandas", "npy": "numpy", "torch": "torch"}  # versions recorded for the built-ins

# Run in a fresh interpreter: load the result as a downstream step does (nothing imported but runyard), then
# save it again with the serializer found there, for the test to compare with what was first saved.
_FRESH_LOAD = textwrap.dedent("""
    import json, sys
    from runyard.serializers import choose, load_result, save_result
    module, folders = sys.argv[1], sys.argv[2:]
    imported_before = bool(module) and module in sys.modules
    for source, target in zip(folders[::2], folders[1::2]):
        value = load_result(source)
        save_result(value, target)
        kind = type(value).__module__ + "." + type(value).__qualname__
        print(json.dumps({"imported_before": imported_before, "imported_after": bool(module) and module in sys.modules,
                          "chosen": choose(value).name, "type": kind}))
    """)



class SaveFailed(Exception):
    """Raised by the contract's failing ``save`` (after it wrote the whole file, or before it wrote any)."""


class SerializerContract:
    """The tests every serializer passes (a subclass provides ``serializer`` and ``values``)."""

    @pytest.fixture
    def serializer(self) -> Serializer:
        raise NotImplementedError("a serializer contract test module provides the `serializer` fixture")

    @pytest.fixture
    def values(self) -> Sequence[Any]:
        raise NotImplementedError("a serializer contract test module provides `values`: samples of its types")

    @pytest.fixture
    def failing_values(self) -> Sequence[Any]:
        """Values of the serializer's types that its ``save`` raises on (none by default)."""
        return []

    @pytest.fixture
    def same(self) -> Same:
        """Whether a loaded value equals the value saved: by default, the same type and ``==``."""
        return lambda loaded, expected: type(loaded) is type(expected) and bool(loaded == expected)

    # --- helpers ------------------------------------------------------------------------------------
    @staticmethod
    def out(tmp_path: Path, name: str) -> str:
        """A fresh ``out/`` of an execution folder, as a step gets it."""
        out = ExecutionPaths(str(tmp_path / name)).out
        os.makedirs(out)
        return out

    @staticmethod
    def saved_files(serializer: Serializer, out: str) -> list[str]:
        """The files a saved result is made of: its value (unless the serializer writes none), its metadata."""
        paths = ResultPaths(out)
        return sorted([paths.meta, *([paths.value(serializer.ext)] if serializer.ext else [])])

    @staticmethod
    def listing(out: str) -> list[str]:
        return sorted(ResultPaths(out).named(name) for name in os.listdir(out))

    @staticmethod
    def as_recorded(data: Mapping[str, Any]) -> Any:
        """``data`` as the metadata file holds it (JSON, anything else as its repr)."""
        return json.loads(json.dumps(dict(data), default=repr))

    def assert_same(self, same: Same, loaded: Any, expected: Any, what: str) -> None:
        assert same(loaded, expected), f"{what}: loaded {loaded!r}, saved {expected!r}"

    # --- the contract -------------------------------------------------------------------------------
    def test_it_has_values_and_an_extension(self, serializer: Serializer, values: Sequence[Any]) -> None:
        assert values, "give at least one sample value"
        assert serializer.ext == "" or (serializer.ext.startswith(".") and len(serializer.ext) > 1), serializer.ext
        assert serializer.ext or serializer.name == "none", "only the `none` serializer writes no file"

    def test_values_are_chosen_by_their_type(self, serializer: Serializer, values: Sequence[Any]) -> None:
        for value in values:
            chosen = choose(value)
            assert (chosen.name, chosen.ext) == (serializer.name, serializer.ext), (
                f"a {type(value).__qualname__} is saved with {chosen.name!r}, not {serializer.name!r}")

    def test_values_round_trip(self, serializer: Serializer, values: Sequence[Any], same: Same,
                               tmp_path: Path) -> None:
        for index, value in enumerate(values):
            out = self.out(tmp_path, f"value{index}")
            save_result(value, out)
            assert self.listing(out) == self.saved_files(serializer, out)
            assert has_result(out)
            self.assert_same(same, load_result(out), value, f"value {index}")
            self.assert_same(same, load_result(os.path.dirname(out)), value, f"value {index}, from its folder")

    def test_the_file_has_the_serializers_extension(self, serializer: Serializer, values: Sequence[Any],
                                                    tmp_path: Path) -> None:
        out = self.out(tmp_path, "ext")
        meta = save_result(values[0], out)
        if not serializer.ext:
            assert meta["file"] is None and self.listing(out) == [ResultPaths(out).meta]
            return
        assert meta["file"] == os.path.basename(ResultPaths(out).value(serializer.ext))
        assert os.path.isfile(ResultPaths(out).named(meta["file"]))

    def test_a_fresh_process_loads_it_by_importing_the_serializers_module(
            self, serializer: Serializer, values: Sequence[Any], same: Same, tmp_path: Path) -> None:
        module = serializer.module if serializer.name not in BUILTIN_NAMES else None
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(entry for entry in sys.path if entry)}
        folders = [(self.out(tmp_path, f"first{index}"), self.out(tmp_path, f"again{index}")) for index in
                   range(len(values))]
        for value, (first, _) in zip(values, folders, strict=True):
            save_result(value, first)
        done = subprocess.run([sys.executable, "-c", _FRESH_LOAD, module or "", *itertools.chain(*folders)],
                              cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False)
        assert done.returncode == 0, f"loading the results in a fresh process failed:\n{done.stderr}"
        reports = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
        assert len(reports) == len(values), done.stdout
        for index, (value, (first, again), seen) in enumerate(zip(values, folders, reports, strict=True)):
            assert not seen["imported_before"], f"{module} was imported before the result was loaded"
            assert seen["imported_after"] == bool(module), f"loading did not import {module}"
            assert seen["chosen"] == serializer.name, f"value {index}"
            assert seen["type"] == result_meta(first)["type"], f"value {index}"
            self.assert_same(same, load_result(again), value, f"value {index}, loaded in a fresh process")

    def test_the_metadata_records_what_was_saved(self, serializer: Serializer, values: Sequence[Any],
                                                 tmp_path: Path) -> None:
        for index, value in enumerate(values):
            out = self.out(tmp_path, f"meta{index}")
            returned = save_result(value, out)
            recorded = result_meta(out)
            assert recorded == self.as_recorded(returned)
            extra = None
            if serializer.ext:  # what `save` returns for this value, written elsewhere
                probe = self.out(tmp_path, f"probe{index}")
                extra = serializer.save(value, ResultPaths(probe).value(serializer.ext))
            kind = type(value)
            expected = {
                "serializer": serializer.name,
                "type": f"{kind.__module__}.{kind.__qualname__}",
                "file": os.path.basename(ResultPaths(out).value(serializer.ext)) if serializer.ext else None,
                "python": sys.version.split()[0],
                "runyard": __version__,
                "meta": self.as_recorded({**serializer.meta, **dict(extra or {})}),
            }
            library = _LIBRARIES.get(serializer.name)
            if library:
                expected[library] = getattr(sys.modules[library], "__version__", None)
            if serializer.name not in BUILTIN_NAMES:
                assert serializer.module, "a registered serializer knows its module"
                expected["module"] = serializer.module
            assert recorded == expected, f"value {index}"

    def test_saving_again_replaces_the_previous_result_whole(self, serializer: Serializer, values: Sequence[Any],
                                                             same: Same, tmp_path: Path) -> None:
        out = self.out(tmp_path, "again")
        for index, value in enumerate([*values, *reversed(values)]):
            meta = save_result(value, out)
            assert self.listing(out) == self.saved_files(serializer, out)
            assert result_meta(out) == self.as_recorded(meta), f"save {index}: the metadata is not the last save's"
            self.assert_same(same, load_result(out), value, f"save {index}")

    def test_a_save_that_raises_leaves_no_result(self, serializer: Serializer, values: Sequence[Any],
                                                 tmp_path: Path) -> None:
        def after_writing(value: Any, path: str) -> Mapping[str, Any] | None:
            serializer.save(value, path)
            raise SaveFailed("after writing the whole file")

        def before_writing(value: Any, path: str) -> Mapping[str, Any] | None:
            raise SaveFailed("before writing")

        if not serializer.ext:
            pytest.skip("the serializer writes no file: its save is never called")
        for index, save in enumerate((after_writing, before_writing)):
            failing = dataclasses.replace(serializer, save=save)
            fresh = self.out(tmp_path, f"fresh{index}")
            earlier = self.out(tmp_path, f"earlier{index}")
            save_result(values[0], earlier)
            for out in (fresh, earlier):
                with pytest.raises(ResultError, match=f"with serializer '{serializer.name}': SaveFailed"):
                    save_result(values[-1], out, chosen=failing)
                self.assert_no_result(out)

    def test_values_it_cannot_save_leave_no_result(self, serializer: Serializer, values: Sequence[Any],
                                                   failing_values: Sequence[Any], tmp_path: Path) -> None:
        if not failing_values:
            pytest.skip("no failing_values: values of its types that its save cannot write")
        for index, value in enumerate(failing_values):
            assert choose(value).name == serializer.name, f"failing value {index} is not this serializer's"
            fresh, earlier = self.out(tmp_path, f"fresh{index}"), self.out(tmp_path, f"earlier{index}")
            save_result(values[0], earlier)
            for out in (fresh, earlier):
                with pytest.raises(ResultError, match=f"with serializer '{serializer.name}'"):
                    save_result(value, out)
                self.assert_no_result(out)

    def assert_no_result(self, out: str) -> None:
        """Nothing of a result is left in ``out``: no metadata, no value, no temporary file."""
        assert self.listing(out) == [], f"a failed save left files behind: {self.listing(out)}"
        assert not has_result(out)
        with pytest.raises(ResultError, match="no saved result"):
            load_result(out)
