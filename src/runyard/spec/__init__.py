"""Sweep specs: load (YAML, mlrunner, Python), validate, expand into a plan, render, key."""

from __future__ import annotations

from runyard.spec.expand import Override, expand, parse_overrides
from runyard.spec.load import DEFAULT_SPEC, load_spec, spec_from_dict
from runyard.spec.types import Grid, MetricSpec, ResourceSpec, Spec, StepSpec

__all__ = [
    "DEFAULT_SPEC", "Grid", "MetricSpec", "Override", "ResourceSpec", "Spec", "StepSpec", "expand",
    "load_spec", "parse_overrides", "spec_from_dict",
]
