"""No input makes the spec layer fail with anything but a SpecError (no traceback for a user mistake)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runyard.errors import SpecError
from runyard.spec import expand, load_spec, parse_overrides, spec_from_dict, template

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
TEMPLATE_PIECES = [*"{}[]'\"\\$ *.ab_-sout", "{a}", "[b]", "{s.out}", "{out}", "{*}"]
TEMPLATE = st.lists(st.sampled_from(TEMPLATE_PIECES), max_size=20).map("".join)


@FUZZ
@given(text=TEMPLATE)
def test_template_parse_raises_only_template_errors(text: str) -> None:
    try:
        tokens = template.parse(text, ["a", "b"], ["s"])
    except template.TemplateError:
        return
    assert "".join(t if isinstance(t, str) else t.text for t in tokens).replace("{", "").replace("}", "") == \
        text.replace("{", "").replace("}", "")


SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.floats(allow_nan=False), st.text(max_size=5))
NAMES = st.sampled_from(["a", "b", "opt", "s", "t", "out", "x y", "", "_c", "1"])
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                        st.dictionaries(NAMES, inner, max_size=3)), max_leaves=8)


@st.composite
def spec_data(draw: st.DrawFn) -> dict[str, Any]:
    data: dict[str, Any] = {}
    keys = draw(st.lists(st.sampled_from(["experiment", "params", "groups", "steps", "sweeps", "metrics",
                                          "resources", "description", "bogus"]), unique=True))
    for key in keys:
        if key == "steps" and draw(st.booleans()):
            data[key] = draw(st.dictionaries(NAMES, st.one_of(TEMPLATE, VALUES), max_size=3))
        elif key == "experiment" and draw(st.booleans()):
            data[key] = draw(st.sampled_from(["e", "../e", "", "a b"]))
        else:
            data[key] = draw(VALUES)
    return data


@FUZZ
@given(data=spec_data(), overrides=st.lists(st.text(st.sampled_from(list("ab=,[]'1t")), max_size=6), max_size=3),
       sweep=st.one_of(st.none(), st.sampled_from(["", "a", "sweep1"])), sample=st.one_of(st.none(), st.integers(0, 3)))
def test_any_data_is_a_spec_or_a_spec_error(tmp_path: Path, data: dict[str, Any], overrides: list[str],
                                            sweep: str | None, sample: int | None) -> None:
    try:
        spec = spec_from_dict(data, folder=tmp_path)
        expand(spec, home=str(tmp_path / "home"), overrides=parse_overrides(spec, overrides), sweep=sweep,
               sample=sample)
    except SpecError as err:
        assert err.problems and all(str(p) for p in err.problems)


YAML_PIECES = [*"ab:{}[]-#'\"\n &*!|>", "  ", "experiment: e\n", "steps:\n", "---\n", "template:\n",
               "  a: echo {x}\n"]


@FUZZ
@given(text=st.lists(st.sampled_from(YAML_PIECES), max_size=40).map("".join))
def test_any_yaml_text_is_a_spec_or_a_spec_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "fuzz.yaml"
    path.write_text(text)
    try:
        load_spec(path)
    except SpecError as err:
        assert err.problems
